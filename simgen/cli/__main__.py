"""``python -m simgen.cli ...``: the ``simgen`` command (studies run their renders this way)."""

from simgen.cli.app import main

if __name__ == "__main__":
    main()
