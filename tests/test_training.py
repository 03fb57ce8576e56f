"""The one training design: a tiny model of each kind trains on synthetic data, and the
callbacks, the cache and the multi-device path behave."""

import gc
import json
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest
from fault_worker import TinyFlow  # tests/ is on sys.path (pytest prepends it)

from course_utils import _tensorflow, cache, callbacks, config, data, losses, training
from course_utils._tensorflow import keras
from course_utils.backup import ResumeBackup
from course_utils.models.autoencoders import build_autoencoder, build_mlp

ops = keras.ops


def gaussian_data(n=512, dim=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, dim)) * [0.5, 2.0][:dim] + [3.0, -1.0][:dim]).astype(np.float32)


class TinyVAE(training.GenerativeModel):
    """A Gaussian-likelihood VAE on 2-D points (the VAE's shape: two losses, sampling)."""

    loss_names = ("loss", "reconstruction_loss", "kl_loss")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = build_mlp(2, (16,), 4, name="encoder")
        self.decoder = build_mlp(2, (16,), 2, name="decoder")
        self.seed_generator = keras.random.SeedGenerator(0)

    def compute_losses(self, batch, training):
        z_mean, z_log_var = ops.split(self.encoder(batch, training=training), 2, axis=1)
        noise = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * noise
        reconstruction = ops.mean(ops.sum(ops.square(batch - self.decoder(z)), axis=1))
        kl = ops.mean(losses.kl_divergence_standard_normal(z_mean, z_log_var))
        return {"loss": reconstruction + kl, "reconstruction_loss": reconstruction,
                "kl_loss": kl}


class TinyGAN(training.AdversarialModel):
    """A 1-D GAN: the generator is affine, so it can match a Gaussian exactly."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = build_mlp(1, (), 1, name="generator")
        self.discriminator = build_mlp(1, (16,), 1, activation="relu", name="discriminator")
        self.seed_generator = keras.random.SeedGenerator(0)

    def _fake(self, batch):
        noise = keras.random.normal((ops.shape(batch)[0], 1), seed=self.seed_generator)
        return self.generator(noise)

    def discriminator_losses(self, batch, training):
        return {"d_loss": losses.discriminator_loss(self.discriminator(batch),
                                                    self.discriminator(self._fake(batch)))}

    def generator_losses(self, batch, training):
        return {"g_loss": losses.generator_loss(self.discriminator(self._fake(batch)))}


def fit(model, x, epochs, **kwargs):
    return training.train(model, data.make_dataset(x, batch_size=64, seed=0), epochs=epochs,
                          **kwargs)


def test_autoencoder_trains():
    x = np.random.default_rng(0).random((256, 784)).astype(np.float32)
    model = build_autoencoder(hidden_units=(32,), latent_dim=2, learning_rate=1e-3)
    result = fit(model, x, 5)
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_vae_trains_with_three_tracked_losses():
    config.set_seed(0)
    model = TinyVAE()
    model.compile(keras.optimizers.Adam(1e-2))
    result = fit(model, gaussian_data(), 20)
    assert set(result.history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert result.history["loss"][-1] < 0.5 * result.history["loss"][0]


def test_gan_trains_with_two_optimizers_and_critic_steps():
    config.set_seed(0)
    x = np.random.default_rng(0).normal(3.0, 0.5, (1024, 1)).astype(np.float32)
    model = TinyGAN(critic_steps=2)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-2), g_optimizer=keras.optimizers.Adam(2e-2))
    result = fit(model, x, 30)
    steps = 30 * (1024 // 64)
    assert int(model.d_optimizer.iterations) == 2 * steps
    assert int(model.optimizer.iterations) == steps
    generated = model.generator.predict(np.random.default_rng(1).normal(size=(2000, 1)),
                                        verbose=0)
    assert set(result.history) == {"d_loss", "g_loss"}
    assert abs(generated.mean() - 3.0) < 0.5  # started at 0: the generator learned


def test_fresh_batches_give_each_critic_step_its_own_slice():
    model = TinyGAN(critic_steps=3, fresh_batches=True)
    images, labels = np.arange(12.0).reshape(12, 1), np.arange(12)
    pieces = model.critic_batches((images, labels))
    assert len(pieces) == 3
    for index, (piece_images, piece_labels) in enumerate(pieces):
        np.testing.assert_array_equal(piece_images, images[4 * index:4 * index + 4])
        np.testing.assert_array_equal(piece_labels, labels[4 * index:4 * index + 4])
    with pytest.raises(ValueError, match="multiple of critic_steps"):
        model.critic_batches(images[:10])
    same = TinyGAN(critic_steps=3).critic_batches(images)
    assert len(same) == 3 and all(piece is images for piece in same)


def test_with_fresh_batches_a_step_is_one_generator_update_on_critic_steps_batches():
    config.set_seed(0)
    x = np.random.default_rng(0).normal(3.0, 0.5, (1024, 1)).astype(np.float32)
    model = TinyGAN(critic_steps=2, fresh_batches=True)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    warm_up = callbacks.CriticWarmUp(
        lambda: data.make_dataset(x, batch_size=64, seed=1).repeat(), generator_steps=3,
        critic_steps=4)
    training.train(model, data.make_dataset(x, batch_size=128, seed=0), epochs=2,
                   callbacks=[warm_up])
    steps = 2 * (1024 // 128)  # each step: two critic updates on 64 images each
    assert int(model.optimizer.iterations) == 3 + steps
    assert int(model.d_optimizer.iterations) == 3 * 4 + 2 * steps
    training.train(model, data.make_dataset(x, batch_size=128, seed=0), epochs=1,
                   callbacks=[warm_up])  # the generator has stepped: no second warm-up
    assert int(model.d_optimizer.iterations) == 3 * 4 + 2 * (steps + 8)


def test_the_critic_warm_up_says_when_its_batches_run_out():
    model = TinyGAN(critic_steps=1)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2))
    x = np.zeros((256, 1), np.float32)
    short = callbacks.CriticWarmUp(lambda: data.make_dataset(x, batch_size=64),
                                   generator_steps=2, critic_steps=3)
    with pytest.raises(ValueError, match="repeat the dataset"):
        training.train(model, data.make_dataset(x, batch_size=64), epochs=1, callbacks=[short])
    with pytest.raises(ValueError, match="positive"):
        callbacks.CriticWarmUp(lambda: [], generator_steps=0)


def test_plain_progress_prints_each_reported_epoch_once(capsys):
    quiet = callbacks.PlainProgress(3, every_seconds=3600)
    quiet.on_train_begin()
    for epoch in range(3):
        quiet.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("epoch 3/3 after ")
    assert lines[0].endswith(": loss=0.333")
    chatty = callbacks.PlainProgress(2, every_seconds=0)
    chatty.on_train_begin()
    chatty.on_epoch_end(0, {})
    chatty.on_epoch_end(1, {})
    assert [line.split(" after")[0] for line in capsys.readouterr().out.splitlines()] == [
        "epoch 1/2", "epoch 2/2"]
    assert isinstance(callbacks.progress_bar(3), callbacks.PlainProgress)  # headless tests


def test_flow_reaches_the_maximum_likelihood_solution():
    x = gaussian_data(2048)
    model = TinyFlow()
    model.compile(keras.optimizers.Adam(5e-2))
    fit(model, x, 40)
    np.testing.assert_allclose(model.shift.numpy(), x.mean(axis=0), atol=0.1)
    np.testing.assert_allclose(np.exp(model.log_scale.numpy()), x.std(axis=0), rtol=0.1)


def test_mismatched_loss_names_raise_a_clear_error():
    class Wrong(TinyFlow):
        loss_names = ("loss", "extra")

    model = Wrong()
    model.compile(keras.optimizers.Adam(1e-2))
    with pytest.raises(ValueError, match="loss_names declares"):
        fit(model, gaussian_data(), 1)


def test_nan_stops_training_and_caches_nothing(isolated_cache):
    def build():
        model = TinyFlow()
        model.compile(keras.optimizers.SGD(1e6))  # diverges at once
        return model

    with pytest.raises(training.TrainingDivergedError, match="Lower the learning rate"):
        cache.load_or_train("diverging", build, config_dict={}, epochs=5,
                               train_data=data.make_dataset(gaussian_data(), batch_size=64))
    assert not list(isolated_cache.glob("diverging-*/entry.json"))


class InterruptAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def build_tiny_flow():
    model = TinyFlow()
    model.compile(keras.optimizers.Adam(5e-2), steps_per_execution=1)
    return model


def test_interrupt_returns_the_model_and_the_rerun_resumes(isolated_cache):
    dataset = data.make_dataset(gaussian_data(), batch_size=64)
    run = cache.load_or_train("flow", build_tiny_flow, config_dict={"v": 1}, epochs=6,
                                 train_data=dataset, callbacks=[InterruptAtEpoch(2)])
    assert run.interrupted and len(run.history["loss"]) == 2
    assert not list(isolated_cache.glob("flow-*/entry.json"))  # nothing cached
    assert list(isolated_cache.glob("flow-*.backup"))  # but the last epoch is backed up
    rerun = cache.load_or_train("flow", build_tiny_flow, config_dict={"v": 1}, epochs=6,
                                   train_data=dataset)
    assert not rerun.interrupted and not rerun.from_cache
    # The interrupt came before epoch 3 was backed up: 2 epochs restored, 4 trained, and the
    # history holds all 6, the restored ones as they were.
    assert len(rerun.history["loss"]) == 6
    assert rerun.history["loss"][:2] == run.history["loss"]
    assert not list(isolated_cache.glob("flow-*.backup"))


def test_cache_round_trip_restores_weights_history_and_metrics(isolated_cache):
    dataset = data.make_dataset(gaussian_data(), batch_size=64)

    def evaluate(model):
        return {"shift": model.shift.numpy(), "ok": True}

    first = cache.load_or_train("flow", build_tiny_flow, config_dict={"v": 1}, epochs=3,
                                   train_data=dataset, evaluate_fn=evaluate)
    second = cache.load_or_train("flow", build_tiny_flow, config_dict={"v": 1}, epochs=3,
                                    train_data=dataset, evaluate_fn=evaluate)
    assert not first.from_cache and second.from_cache
    np.testing.assert_array_equal(first.model.shift.numpy(), second.model.shift.numpy())
    assert second.history == first.history and second.metrics == first.metrics
    assert second.train_seconds == first.train_seconds
    entry = json.loads((first.path / "entry.json").read_text())
    assert entry["mode"] == "fast" and entry["config"] == {"v": 1}
    other = cache.load_or_train("flow", build_tiny_flow, config_dict={"v": 2}, epochs=3,
                                   train_data=dataset)
    assert not other.from_cache and other.path != first.path


def test_a_corrupt_cache_entry_is_detected_and_retrained(isolated_cache, capsys):
    dataset = data.make_dataset(gaussian_data(), batch_size=64)
    first = cache.load_or_train("flow", build_tiny_flow, config_dict={}, epochs=2,
                                   train_data=dataset)
    weights = first.path / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-10])
    again = cache.load_or_train("flow", build_tiny_flow, config_dict={}, epochs=2,
                                   train_data=dataset)
    assert "is corrupt" in capsys.readouterr().out and not again.from_cache
    assert cache.load_or_train("flow", build_tiny_flow, config_dict={}, epochs=2,
                                  train_data=dataset).from_cache


def test_sample_snapshots_are_recorded_cached_and_checked(isolated_cache):
    """The same fixed points through the model at epochs 0, 1 and 3; stored with the entry,
    returned on a cache hit, and a tampered arrays file is detected."""
    dataset = data.make_dataset(gaussian_data(), batch_size=64)
    fixed = np.ones((4, 2), np.float32)

    def run():
        snapshots = callbacks.SampleSnapshots(lambda model: model.forward(fixed)[0],
                                             epochs=(0, 1, 3))
        return cache.load_or_train("flow", build_tiny_flow, config_dict={}, epochs=3,
                                      train_data=dataset, callbacks=[snapshots])

    first = run()
    recorded = first.snapshots()
    assert list(recorded) == [0, 1, 3] and recorded[0].shape == (4, 2)
    np.testing.assert_allclose(recorded[0], fixed)  # the untrained flow is the identity
    assert not np.allclose(recorded[3], fixed)
    second = run()
    assert second.from_cache
    for epoch, samples in recorded.items():
        np.testing.assert_array_equal(second.snapshots()[epoch], samples)
    arrays = first.path / cache.ARRAYS_FILE
    arrays.write_bytes(arrays.read_bytes()[:-5])
    assert not run().from_cache  # detected as corrupt and trained again
    with pytest.raises(ValueError, match="non-negative"):
        callbacks.SampleSnapshots(lambda model: None, epochs=())


def test_periodic_measurements_follow_optimizer_steps_and_are_cached(isolated_cache):
    """32 batches per epoch, 8 per execution, a measurement every 12 steps: Keras calls back
    after steps 8, 16, 24, ..., so measurements fall at 0, 16, 24, 40, 48, 64 (the first
    callback at or after each multiple of 12)."""
    dataset = data.make_dataset(gaussian_data(), batch_size=16)  # 512 points: 32 batches

    def build():
        model = TinyFlow()
        model.compile(keras.optimizers.Adam(1e-3), steps_per_execution=8)
        return model

    def run():
        measured = callbacks.PeriodicMeasurements(
            lambda model: {"iterations": float(model.optimizer.iterations.numpy()),
                           "twice": 2.0 * float(model.optimizer.iterations.numpy())},
            every_steps=12)
        return cache.load_or_train("flow", build, config_dict={"spe": 8}, epochs=2,
                                      train_data=dataset, callbacks=[measured])

    first = run()
    steps = first.arrays["measured_step"]
    assert steps.tolist() == [0, 16, 24, 40, 48, 64]
    np.testing.assert_array_equal(first.arrays["measured_iterations"], steps)
    np.testing.assert_array_equal(first.arrays["measured_twice"], 2 * steps)
    second = run()
    assert second.from_cache
    np.testing.assert_array_equal(second.arrays["measured_step"], steps)
    with pytest.raises(ValueError, match="positive"):
        callbacks.PeriodicMeasurements(lambda model: {}, every_steps=0)


def test_cache_key_depends_on_mode_and_rejects_non_json_config(monkeypatch):
    fast_key = cache.cache_key("m", {"a": 1})
    monkeypatch.setenv("COURSE_FAST", "0")
    assert cache.cache_key("m", {"a": 1}) != fast_key
    with pytest.raises(ValueError, match="JSON-serializable"):
        cache.cache_key("m", {"a": object()})


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from course_utils._tensorflow import keras, tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    from course_utils import config, data, training
    from course_utils.models.autoencoders import build_autoencoder

    x = np.random.default_rng(0).random((64, 784)).astype(np.float32)
    results = {}
    for label, strategy in [
        ("single", tf.distribute.OneDeviceStrategy("/cpu:0")),
        ("mirrored", config.distribution_strategy(devices=["/cpu:0", "/cpu:1"])),
    ]:
        config.set_seed(0)
        with strategy.scope():
            model = build_autoencoder(hidden_units=(16,), learning_rate=0.05)
        model.compile(keras.optimizers.SGD(0.05), steps_per_execution=1)
        training.train(model, data.make_dataset(x, batch_size=32, shuffle=False), epochs=2)
        results[label] = {"replicas": strategy.num_replicas_in_sync,
                          "weights": [w.tolist() for w in model.get_weights()]}
    json.dump(results, sys.stdout)
""")


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device():
    completed = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True,
                               text=True, timeout=300, check=True)
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results["mirrored"]["replicas"] == 2
    for single, mirrored in zip(results["single"]["weights"], results["mirrored"]["weights"],
                                strict=True):
        np.testing.assert_allclose(single, mirrored, rtol=1e-4, atol=1e-6)


def test_a_training_data_function_is_called_only_when_training(isolated_cache):
    calls = []

    def training_data():
        calls.append(1)
        return data.make_dataset(gaussian_data(), batch_size=64)

    first = cache.load_or_train("lazy", build_tiny_flow, config_dict={}, epochs=1,
                                   train_data=training_data)
    second = cache.load_or_train("lazy", build_tiny_flow, config_dict={}, epochs=1,
                                    train_data=training_data)
    assert not first.from_cache and second.from_cache
    assert len(calls) == 1


def test_graph_optimizer_options_apply_inside_the_block_only():
    from course_utils._tensorflow import tf

    before = tf.config.optimizer.get_experimental_options().get("remapping", True)
    with training.graph_optimizer_options(remapping=not before):
        assert tf.config.optimizer.get_experimental_options()["remapping"] is (not before)
    assert tf.config.optimizer.get_experimental_options().get("remapping", True) is before


def test_cache_only_loads_what_is_cached_and_never_trains(isolated_cache):
    built = []

    def build():
        built.append(1)
        return build_tiny_flow()

    with cache.cache_only(), pytest.raises(cache.NotCachedError, match="not in the cache"):
        cache.load_or_train("peek", build, config_dict={"v": 1}, epochs=1,
                               train_data=lambda: pytest.fail("cache_only must not train"))
    assert not built, "nothing is built for a model that is not cached"
    trained = cache.load_or_train("peek", build, config_dict={"v": 1}, epochs=1,
                                     train_data=data.make_dataset(gaussian_data(), batch_size=64))
    with cache.cache_only():
        loaded = cache.load_or_train("peek", build, config_dict={"v": 1}, epochs=1,
                                        train_data=None)
    assert loaded.from_cache and loaded.metrics == trained.metrics
    assert not cache.is_cache_only()


def test_train_applies_the_models_grappler_options_while_it_trains():
    """Adversarial models train without TensorFlow's remapper (see AdversarialModel); the
    setting is back as it was after training."""
    from course_utils._tensorflow import tf

    assert dict(training.AdversarialModel.grappler_options) == {"remapping": False}
    seen = []

    class Peek(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(tf.config.optimizer.get_experimental_options().get("remapping", True))

    model = build_tiny_flow()
    model.grappler_options = (("remapping", False),)
    before = tf.config.optimizer.get_experimental_options().get("remapping", True)
    training.train(model, data.make_dataset(gaussian_data(), batch_size=64), epochs=1,
                   callbacks=[Peek()])
    assert seen and not any(seen)
    assert tf.config.optimizer.get_experimental_options().get("remapping", True) is before


def _build_tiny_gan():
    model = TinyGAN()
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3),
                  steps_per_execution=4)
    return model


def test_optimizer_slots_exist_only_while_training(isolated_cache):
    dataset = data.make_dataset(gaussian_data(dim=1), batch_size=64)
    assert not _build_tiny_gan().optimizer.built  # compiling creates no slots
    first = cache.load_or_train("gan", _build_tiny_gan, config_dict={}, epochs=2,
                                train_data=dataset)
    second = cache.load_or_train("gan", _build_tiny_gan, config_dict={}, epochs=2,
                                 train_data=dataset)
    assert second.from_cache
    for run in (first, second):  # freed after training; never created for a loaded model
        assert not run.model.optimizer.built and not run.model.d_optimizer.built
    for trained, loaded in zip(first.model.weights, second.model.weights, strict=True):
        np.testing.assert_array_equal(trained.numpy(), loaded.numpy())
    np.testing.assert_allclose(float(first.model.optimizer.learning_rate), 1e-3)
    trained_further = fit(first.model, gaussian_data(dim=1), 1)  # fit creates them again
    assert trained_further.epochs_completed == 1 and first.model.d_optimizer.built


def test_a_resumed_gan_gets_both_optimizers_state_back(isolated_cache):
    dataset = data.make_dataset(gaussian_data(dim=1), batch_size=64)
    run = cache.load_or_train("gan", _build_tiny_gan, config_dict={}, epochs=3,
                              train_data=dataset, callbacks=[InterruptAtEpoch(2)])
    assert run.interrupted
    resumed = _build_tiny_gan()
    backup = next(isolated_cache.glob("gan-*.backup"))
    structure = cache.structure_fingerprint(resumed)
    assert ResumeBackup(backup, structure=structure).restore(resumed) == 2
    steps = 2 * 512 // 64  # two epochs of 512 points in batches of 64
    assert int(resumed.d_optimizer.iterations) == int(resumed.optimizer.iterations) == steps
    moments = [v for v in resumed.d_optimizer.variables if "momentum" in v.path]
    assert moments and all(np.any(v.numpy() != 0) for v in moments)


def _custom_gradients(names):
    return {name for name in names if name.startswith("CustomGradient-")}


def test_a_trained_model_is_freed_once_deleted():
    """Keras's optimizer step registers a custom gradient (its replicas' all_reduce) that
    would hold the traced step, and through it every variable, for good; train drops it."""
    registry = _tensorflow._framework_ops._gradient_registry._registry
    before = set(registry)
    plain = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    plain.compile("adam", "mse")
    plain.fit(gaussian_data(dim=1), gaussian_data(dim=1), epochs=1, verbose=0)
    leaked = _custom_gradients(set(registry) - before)
    assert leaked  # what a plain fit leaves behind
    for name in leaked:  # (not to leak it here)
        del registry[name]
    model = _build_tiny_gan()
    fit(model, gaussian_data(dim=1), 1)
    assert not _custom_gradients(set(registry) - before)
    variables = [weakref.ref(weight.value) for weight in model.weights]
    del model
    gc.collect()
    assert all(variable() is None for variable in variables)
