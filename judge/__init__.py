"""afm-judge: grade AFM test runs and write compatibility reports."""

__version__ = "0.1.0"
