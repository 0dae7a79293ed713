"""Layer 6: the accuracy-aware compression search (it trains, converts and runs candidates, so it sits above
``tflite_export``)."""
