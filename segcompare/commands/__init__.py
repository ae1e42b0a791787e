"""One module per `segcompare` subcommand; see `segcompare/cli.py`."""
