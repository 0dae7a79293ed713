"""keras-ssl: self-supervised pretraining to small, fast, measured TFLite artifacts."""
__version__ = "0.1.0"
