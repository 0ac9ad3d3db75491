"""`python -m ecrdoctor` is the same program as the `ecrdoctor` console script."""

from ecrdoctor.cli import main

main()
