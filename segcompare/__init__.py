"""segcompare: train, evaluate and compare semantic-segmentation models, and show the comparison."""

__version__ = "0.1.0"
