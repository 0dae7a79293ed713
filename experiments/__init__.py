"""absl binaries: thin entry files; each binary's flags and logic live in keras_ssl/cli/."""
