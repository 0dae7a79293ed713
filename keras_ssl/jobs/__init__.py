"""Layer 10: the jobs behind the binaries besides the pipeline: export, search, benchmark."""
