from embeval.cli import main

main()
