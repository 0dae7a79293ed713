"""Two logical CPUs from one physical CPU: the "two devices" the manual and DTensor approaches shard over.

This machine has one CPU and no GPU; TensorFlow can present it as /CPU:0 and /CPU:1, but only before its
runtime starts, which is why every approach runs in its own process and sets this up first.
"""


def two_logical_cpus():
    """Splits the one physical CPU into /CPU:0 and /CPU:1 (once: only before TensorFlow starts its runtime)."""
    from keras_ssl.base.keras import tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) != 2:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return [d.name for d in tf.config.list_logical_devices("CPU")]
