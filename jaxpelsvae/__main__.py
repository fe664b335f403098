"""`python -m jaxpelsvae`: the same command-line interface as the `jaxpelsvae` script."""
from jaxpelsvae.cli import main

raise SystemExit(main())
