"""Per-epoch backup and resume of a Keras ``fit`` (``BackupAndRestore``), checked so a resume is never wrong.

Why a SIGKILL cannot leave a checkpoint that loads wrongly (read in TF 2.21's ``CheckpointManager.save`` and
``functional_saver``, and tested by killing runs mid-save): the tensors are written under ``ckpt-N_temp/`` and
merged into ``ckpt-N.data-*`` + ``ckpt-N.index`` first; only then is the ``checkpoint`` file, which names the
latest checkpoint, replaced (temp file + rename); the previous checkpoint is deleted after that.  A kill at any
point leaves ``checkpoint`` naming a complete checkpoint (or no ``checkpoint`` file before the first one: the fit
starts at epoch 0).  Power loss is not covered: TensorFlow does not fsync.

What can still happen is damage after the fact (disk errors, a partial copy, an edit).  Then the resume stops with
a one-line ``UserError`` naming the folder: every tensor is read back (CRC-checked) and the checkpoint must match the
model's structure.  It is never silently skipped or deleted here: the user decides whether to drop the backup.
"""
import os

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras

STATE_FOLDER = "chief"  # where BackupAndRestore's CheckpointManager writes, inside backup_dir


def latest_backup(backup_dir):
    """The checkpoint prefix a fit would resume from, None when there is none; UserError when it is unreadable."""
    folder = os.path.join(backup_dir, STATE_FOLDER)
    if not os.path.exists(os.path.join(folder, "checkpoint")):
        return None  # no epoch finished yet (a kill during the first save leaves only temp files): start at 0
    latest = tf.train.latest_checkpoint(folder)
    if latest is None:
        raise UserError(f"backup in {backup_dir} is damaged (its 'checkpoint' file names no readable checkpoint): "
                        "delete that folder to restart this training from epoch 0")
    try:
        reader = tf.train.load_checkpoint(latest)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as e:  # noqa: BLE001 -- TF reports damage as OpError, IndexError, ValueError...: all unreadable
        raise UserError(f"backup {latest} is unreadable ({type(e).__name__}: {first_line(e)}): delete "
                        f"{backup_dir} to restart this training from epoch 0") from None
    return latest


def first_line(error):
    """An exception's message cut to its first line and 160 characters, for one-line errors."""
    return (str(error).strip().splitlines() or [""])[0][:160]


class CheckedBackupAndRestore(tf_keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that refuses a damaged backup or one made by another model instead of half-restoring it.

    Keras's own restore (``CheckpointManager.restore_or_initialize``) ignores objects the checkpoint does not have,
    so a backup of a different model could silently resume with some weights fresh.
    """

    def on_train_begin(self, logs=None):
        """Checks the backup, lets Keras restore it, then checks every model variable got a saved value."""
        latest = latest_backup(self.backup_dir)
        try:
            super().on_train_begin(logs)
            if latest is not None:
                checkpoint = self._training_state.read_checkpoint_manager.checkpoint
                # expect_partial: the save counter only exists after the next save (Keras restores it then).
                checkpoint.restore(latest).assert_existing_objects_matched().expect_partial()
        except (tf.errors.OpError, ValueError, AssertionError) as e:
            raise UserError(f"backup {latest} does not fit this model ({type(e).__name__}: {first_line(e)}): it was "
                            f"made by a different training; delete {self.backup_dir} to start over") from None
        if latest is not None:
            epoch = int(self._training_state._ckpt_saved_epoch.numpy())
            logging.info("resuming from backup %s: epochs 0..%d already done", latest, epoch)
