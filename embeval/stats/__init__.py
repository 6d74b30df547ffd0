"""Statistics over computed values (no I/O, no formatting): paired tests between two runs over the
same queries (:mod:`.paired`: paired bootstrap, sign-flip randomisation) and multiple-comparison
corrections (:mod:`.multiple`: Holm–Bonferroni). ``embeval compare`` (``report/compare/``) calls
them; the report layer formats what they return and computes nothing itself."""

from embeval.stats.multiple import holm
from embeval.stats.paired import PairedTest, bootstrap_means, paired_test, sign_flip_p

__all__ = ["PairedTest", "bootstrap_means", "holm", "paired_test", "sign_flip_p"]
