"""Where a search study lives: an Optuna storage every worker opens, with heartbeats so a killed worker's trial runs
again.

``--study_storage`` takes what Optuna takes: a journal file path (processes on one host; the default) or an RDB URL
(``sqlite:///``, ``postgresql://``, ``mysql://``; several hosts).  Both get the same heartbeat: a worker stamps its
running trial every ``interval`` seconds, and a RUNNING trial whose stamp is older than ``grace`` seconds is failed
by the next worker that starts a trial and queued again by Optuna's ``RetryHeartbeatStaleTrialCallback``.  Optuna's
RDBStorage has that built in; its JournalStorage has not, so ``HeartbeatJournalStorage`` adds it through Optuna's own
heartbeat interface (``optuna.storages._heartbeat.BaseHeartbeat``, the one ``study.optimize`` drives).
"""
import dataclasses
import os
import time

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from keras_ssl.base.errors import UserError

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
DRIVERS = ("pip install 'psycopg[binary]' for postgresql:// (or psycopg2-binary with postgresql+psycopg2://), pymysql "
           "with mysql+pymysql://")


@dataclasses.dataclass
class StorageConfig:
    """``url``: a journal file path or an RDB URL; ``interval``/``grace``: heartbeat seconds; ``max_retry``: how
    often one killed trial is queued again."""
    url: str
    interval: int = 10
    grace: int = 40
    max_retry: int = 2

    def __post_init__(self):
        if not 0 < self.interval < self.grace:
            raise UserError(f"heartbeat interval {self.interval} s must be positive and below its grace period "
                            f"{self.grace} s")


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal file storage with RDBStorage's heartbeat: the stamp is a trial system attribute."""

    def __init__(self, path, interval, grace, stale_callback):
        super().__init__(JournalFileBackend(path))
        self._interval, self._grace, self._stale_callback = interval, grace, stale_callback

    def record_heartbeat(self, trial_id):
        """Stamps the trial's ``heartbeat`` system attribute with the time now."""
        self.set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id):
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        # A retried trial inherits its original's stamp: its own start counts as a beat too.
        return [trial._trial_id for trial in running
                if now - max(trial.system_attrs.get("heartbeat", 0), trial.datetime_start.timestamp()) > self._grace]

    def get_heartbeat_interval(self):
        """Seconds between two stamps of a running trial."""
        return self._interval

    def get_heartbeat_stale_trial_callback(self):
        """Called for each trial found stale: Optuna's retry callback, which queues it again."""
        return self._stale_callback


def is_rdb_url(url):
    """Whether ``url`` names a database (``sqlite:///``, ``postgresql+psycopg2://``, ...) rather than a journal file."""
    return url.split("://", 1)[0].split("+", 1)[0] in RDB_SCHEMES and "://" in url


def display_url(url):
    """``url`` with any password hidden, for logs and reports."""
    if not is_rdb_url(url):
        return url
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def check_url(url):
    """UserError (one line) unless ``url`` is an RDB URL or a journal file path in an existing folder; writes
    nothing (a database is reached only when the study is opened)."""
    if is_rdb_url(url):
        return
    if "://" in url:
        raise UserError(f"study storage {url!r}: unknown scheme; pass a journal file path or a "
                        f"{'/'.join(RDB_SCHEMES)} URL")
    if os.path.isdir(url) or not os.path.isdir(os.path.dirname(os.path.abspath(url))):
        raise UserError(f"study storage {url}: {'is a folder' if os.path.isdir(url) else 'its folder is missing'}; "
                        "pass a journal file path in an existing folder")


def open_storage(config):
    """The Optuna storage of ``config.url``; UserError (one line) for a malformed or unreachable one."""
    retry = RetryHeartbeatStaleTrialCallback(max_retry=config.max_retry)
    url = config.url
    check_url(url)
    if is_rdb_url(url):
        import sqlalchemy.exc
        try:
            return RDBStorage(url, heartbeat_interval=config.interval, grace_period=config.grace,
                              heartbeat_stale_trial_callback=retry)
        except ImportError as e:
            raise UserError(f"study storage {display_url(url)}: its database driver is missing ({e}): {DRIVERS}") \
                from None
        except (sqlalchemy.exc.SQLAlchemyError, ValueError) as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise UserError(f"cannot open study storage {display_url(url)} ({reason}): check the URL, the server "
                            "and its credentials") from None
    try:
        return HeartbeatJournalStorage(url, config.interval, config.grace, retry)
    except OSError as e:
        raise UserError(f"cannot open study journal {url} ({e.strerror}): check the path and its permissions") \
            from None


def quiet_optuna():
    """Optuna's own lines per trial would repeat the search's (a failed candidate's with a traceback); its
    experimental-feature warnings are noise."""
    import warnings
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
