"""ecrdoctor: diagnose why an image will not pull from Amazon ECR."""

__version__ = "0.1.0"
