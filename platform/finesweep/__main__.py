from finesweep.cli import main

main()
