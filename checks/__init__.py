"""Built-in checks, installed as the package `ecrdoctor.checks`; one module per area."""
