"""Layer 11: the command-line binaries' logic (flags → config → library call); ``experiments/`` holds their thin
entry files and setup.cfg's console scripts point here."""
