"""Layer 9: the main job that ties data, models, SSL, compression, export and measurement together."""
