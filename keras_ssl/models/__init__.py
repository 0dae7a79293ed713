"""Layer 2: the seed models, built flat from dataclass configs."""
