"""Stage timing: each stage logs when it starts and how long it took, and the report keeps the numbers."""
import contextlib
import time

from absl import logging


class StageTimer:
    def __init__(self):
        self.timings = {}

    @contextlib.contextmanager
    def stage(self, name):
        logging.info("stage %s: start", name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 2)
        logging.info("stage %s: done in %.1f s", name, self.timings[name])
