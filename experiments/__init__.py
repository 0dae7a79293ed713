"""absl binaries: thin flag parsers over the keras_ssl library."""
