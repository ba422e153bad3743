"""`python -m service ...`: the command-line interface."""

from service.cli.main import main

main()
