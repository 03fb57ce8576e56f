"""The recipe registry: typed configs, the one rule for steps, the cache key and the
model's structure fingerprint, the registry that the comparison and the benchmark read."""

import dataclasses
import gc
import threading
import weakref
from types import SimpleNamespace

import numpy as np
import pytest

from course_utils import bench, cache, callbacks, comparison, config, data, metrics, recipes
from course_utils.models.autoencoders import build_autoencoder
from course_utils.models.classifier import build_classifier
from course_utils.recipes import base, classifiers


def test_a_recipe_names_the_field_given_a_wrong_type_or_misspelt():
    with pytest.raises(TypeError, match=r"VAERecipe\.latent_dim must be int"):
        recipes.VAERecipe(latent_dim="2")
    with pytest.raises(TypeError, match="epoch"):
        recipes.VAERecipe(epoch=3)
    with pytest.raises(TypeError, match=r"GANRecipe\.num_classes must be int \| None"):
        recipes.GANRecipe(num_classes=10.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        recipes.VAERecipe(kind="resnet")
    recipe = recipes.AutoencoderRecipe(hidden_units=[10, 5])
    assert recipe.hidden_units == (10, 5)  # a list becomes a tuple: the recipe stays hashable
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.latent_dim = 3
    hash(recipe)


def test_mode_dependent_defaults_follow_the_mode_when_the_recipe_is_made(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    fast = recipes.VAERecipe(kind="dense")
    monkeypatch.setenv("COURSE_FAST", "0")
    full = recipes.VAERecipe(kind="dense")
    assert (fast.epochs, fast.train_limit) == (recipes.VAE_EPOCHS["dense"][1], 6000)
    assert (full.epochs, full.train_limit) == (recipes.VAE_EPOCHS["dense"][0], None)
    assert recipes.VAERecipe(kind="dense", epochs=7).epochs == 7
    assert recipes.GANRecipe(kind="conv").epochs == recipes.GANRecipe(kind="conv").epochs


def test_steps_per_epoch_counts_the_last_batch_only_when_it_is_kept():
    assert base.steps_per_epoch(1000, 128, drop_remainder=True) == 7
    assert base.steps_per_epoch(1000, 128, drop_remainder=False) == 8
    assert base.steps_per_epoch(1024, 128, drop_remainder=False) == 8
    with pytest.raises(ValueError, match="positive"):
        base.steps_per_epoch(0, 128, drop_remainder=True)


def test_the_plan_counts_steps_from_the_data(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    dense = recipes.VAERecipe(latent_dim=16)  # 60,000 images in batches of 256, 40 epochs
    assert dense.plan() == recipes.TrainingPlan(235, 40 * 235)
    short = recipes.VAERecipe(epochs=2, train_limit=10_000)  # its last, smaller batch counts
    assert short.plan() == recipes.TrainingPlan(40, 80)
    assert recipes.GANRecipe().plan().steps_per_epoch == 60_000 // 128  # the GANs drop it
    # a WGAN's step takes a fresh batch of 128 for each of its 5 critic updates
    assert recipes.GANRecipe(model="wgan_gp").plan().steps_per_epoch == 60_000 // 640
    assert recipes.GANRecipe(model="wgan", critic_steps=2).examples_per_step() == 256
    digits_0_to_8 = int(np.isin(data.load_raw("mnist")["y_train"], recipes.FLOW_DIGITS).sum())
    assert recipes.RealNVPRecipe().plan().steps_per_epoch == digits_0_to_8 // 128


def test_the_cache_key_holds_the_recipe_its_fields_and_its_plan():
    recipe = recipes.GANRecipe(kind="conv")
    plan = recipe.plan()
    key = recipe.cache_config(plan)
    assert key["recipe"] == "GANRecipe" and key["kind"] == "conv"
    assert key["plan"] == dataclasses.asdict(plan)
    other = recipe.cache_config(dataclasses.replace(plan, steps_per_execution=1))
    assert cache.cache_key(recipe.cache_name, key) != cache.cache_key(
        recipe.cache_name, other)
    nested = recipes.DownstreamClassifierRecipe(gan=recipes.conditional_gan())
    assert nested.cache_config(nested.plan())["gan"]["num_classes"] == 10
    with pytest.raises(ValueError, match="conditional GAN"):
        recipes.DownstreamClassifierRecipe(gan=recipes.GANRecipe())


def test_a_wgan_recipe_feeds_fresh_batches_and_warms_its_clipped_critic_up():
    wgan, wgan_gp = recipes.GANRecipe(model="wgan"), recipes.GANRecipe(model="wgan_gp")
    images = next(iter(wgan.training_data()))
    assert images.shape == (5 * 128, 784)
    warm_ups = [c for c in wgan.callbacks() if isinstance(c, callbacks.CriticWarmUp)]
    assert len(warm_ups) == 1 and (warm_ups[0].generator_steps, warm_ups[0].critic_steps) == (
        25, 100)
    assert next(iter(warm_ups[0].batches())).shape == (128, 784)
    assert not any(isinstance(c, callbacks.CriticWarmUp) for c in wgan_gp.callbacks())
    settings = wgan_gp.cache_config(wgan_gp.plan())["training"]
    assert (settings["beta_1"], settings["beta_2"], settings["fresh_batches"]) == (0.0, 0.9, True)
    table = recipes.TabularGANRecipe()
    assert next(iter(table.training_data())).shape[0] == 5 * table.batch_size
    with pytest.raises(ValueError, match="generator steps, critic steps"):
        recipes.GANRecipe(model="wgan", critic_warm_up=(25,))


def test_the_structure_fingerprint_ignores_layer_names_and_sees_any_change():
    first = build_autoencoder(hidden_units=(8,), latent_dim=2)
    second = build_autoencoder(hidden_units=(8,), latent_dim=2)  # other automatic names
    assert cache.structure_fingerprint(first) == cache.structure_fingerprint(second)
    for changed in (build_autoencoder(hidden_units=(9,), latent_dim=2),
                    build_autoencoder(hidden_units=(8,), latent_dim=3),
                    build_autoencoder(hidden_units=(8,), latent_dim=2, activation="relu")):
        assert cache.structure_fingerprint(changed) != cache.structure_fingerprint(first)


def test_an_entry_of_another_structure_is_retrained_never_loaded(isolated_cache, capsys):
    images = np.random.default_rng(0).uniform(size=(64, 784)).astype(np.float32)
    dataset = data.make_dataset(images, batch_size=32)

    def run(hidden_units):
        return cache.load_or_train(
            "autoencoder", lambda: build_autoencoder(hidden_units=hidden_units),
            config_dict={"same": "config"}, epochs=1, train_data=dataset)

    run((8,))
    again = run((9,))  # the builder changed, the config did not
    assert "another structure" in capsys.readouterr().out and not again.from_cache
    assert run((9,)).from_cache
    with cache.cache_only(), pytest.raises(cache.NotCachedError, match="structure"):
        run((8,))


def test_cache_only_is_local_to_its_thread():
    seen = {}

    def other_thread():
        seen["other"] = cache.is_cache_only()

    with cache.cache_only():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert cache.is_cache_only()
    assert seen == {"other": False} and not cache.is_cache_only()


def test_every_registered_recipe_is_made_in_both_modes_with_a_unique_entry(monkeypatch):
    for fast in ("1", "0"):
        monkeypatch.setenv("COURSE_FAST", fast)
        keys = set()
        for model in recipes.REGISTRY.values():
            recipe = model.recipe()
            assert isinstance(recipe, recipes.Recipe), model.key
            keys.add(cache.cache_key(recipe.cache_name, recipe.cache_config(recipe.plan())))
        assert len(keys) == len(recipes.REGISTRY)


def test_the_comparison_and_the_benchmark_read_the_registry():
    assert recipes.image_models() == comparison.IMAGE_MODELS
    assert {model.key for model in comparison.IMAGE_MODELS} == {
        key for key, model in recipes.REGISTRY.items() if model.fid_key}
    chapters = [model.chapter for model in comparison.IMAGE_MODELS]
    assert chapters == sorted(chapters)
    assert set(bench.CASES) == {"autoencoder", "vae_16d", "mlp_gan", "realnvp"}
    assert recipes.REGISTRY["realnvp"].digits == recipes.FLOW_DIGITS
    assert recipes.REGISTRY["autoencoder"].digits == (1, 5, 6)
    with pytest.raises(ValueError, match="registered already"):
        recipes.register(recipes.REGISTRY["dcgan"])


def test_the_course_classifier_is_kept_per_mode_and_cache_directory(monkeypatch, tmp_path):
    loaded = []
    monkeypatch.setattr(classifiers, "load", lambda recipe: loaded.append(recipe)
                        or SimpleNamespace(model=object(), interrupted=False))
    classifiers._loaded_course_classifier.cache_clear()
    try:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "a"))
        first = classifiers.course_classifier()
        assert classifiers.course_classifier() is first and len(loaded) == 1
        monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "b"))
        assert classifiers.course_classifier() is not first
        monkeypatch.setenv("COURSE_FAST", "0")
        classifiers.course_classifier()
        assert len(loaded) == 3 and loaded[-1].train_size == 60_000
    finally:
        classifiers._loaded_course_classifier.cache_clear()


def test_measuring_with_a_classifier_does_not_keep_it_alive():
    classifier = build_classifier()
    reference = weakref.ref(classifier)
    metrics.class_probabilities(np.zeros((3, 28, 28), np.float32), classifier=classifier)
    del classifier
    gc.collect()
    assert reference() is None


def test_every_generative_model_samples_through_one_interface():
    from course_utils.models import adversarial_encoders, flows, gans, vaes

    unconditional = [vaes.build_vae("dense", latent_dim=2),
                     flows.build_realnvp((2,), num_couplings=2, hidden_units=(4,)),
                     gans.build_gan("gan", "points", latent_dim=2)]
    for model in unconditional:
        assert len(model.sample(3, seed=1)) == 3
        np.testing.assert_array_equal(model.sample(3, seed=1), model.sample(3, seed=1))
        with pytest.raises(ValueError, match="conditional"):
            model.sample(3, seed=1, labels=np.zeros(3, int))
    supervised = adversarial_encoders.build_aae(hidden_units=(8,), discriminator_units=(8,),
                                                num_classes=10)
    assert supervised.sample(4, seed=0, labels=np.arange(4)).shape == (4, 784)
    with pytest.raises(ValueError, match="conditional"):
        supervised.sample(4, seed=0)
    run = cache.CachedRun(model=supervised, history={}, train_seconds=0.0)
    assert recipes.draw_from_prior(run, 20, 0).shape == (20, 28, 28)


def test_a_recipe_loads_its_own_entry_after_training(isolated_cache):
    recipe = recipes.AutoencoderRecipe(hidden_units=(8,), epochs=1)
    run = recipes.load(recipe)
    assert run.path.name.startswith("digit_autoencoder-") and 0 <= run.metrics[
        "knn_accuracy_2d"] <= 1
    entry = run.path / "entry.json"
    assert '"recipe": "AutoencoderRecipe"' in entry.read_text()
    again = recipes.load(recipes.AutoencoderRecipe(hidden_units=[8], epochs=1))
    assert again.from_cache and again.metrics == run.metrics
    assert config.mode() == "fast"
