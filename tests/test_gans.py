"""GAN losses, the gradient penalty, clipping, the critic-step schedule, the builders and the
GAN models, each against an independent computation or a property that a bug would break."""

import os

import numpy as np
import pytest

from course_utils import data, losses, metrics, training
from course_utils._tensorflow import keras, tf
from course_utils.models import gans
from course_utils.models.networks import conv, mlp, table

ops = keras.ops
rng = np.random.default_rng(0)


def test_wasserstein_losses_are_score_differences():
    real = rng.normal(1.0, 1.0, (16, 1)).astype(np.float32)
    fake = rng.normal(-1.0, 1.0, (16, 1)).astype(np.float32)
    assert float(losses.wasserstein_critic_loss(real, fake)) == pytest.approx(
        fake.mean() - real.mean(), rel=1e-5)
    assert float(losses.wasserstein_generator_loss(fake)) == pytest.approx(-fake.mean(), rel=1e-5)


def _finite_difference_gradient_norms(function, points, step=1e-3):
    """Central differences of a scalar function of each row, in float64."""
    gradients = np.zeros_like(points)
    for i in range(points.shape[1]):
        shift = np.zeros_like(points)
        shift[:, i] = step
        gradients[:, i] = (function(points + shift) - function(points - shift)) / (2 * step)
    return np.linalg.norm(gradients, axis=1)


def test_gradient_penalty_matches_finite_difference_gradient_norms():
    """With real == fake every interpolate is that point, whatever the weight u; the penalty
    must then equal mean((|grad f| - 1)^2) with the gradient taken by finite differences."""
    keras.utils.set_random_seed(1)
    critic = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"),
                               keras.layers.Dense(1)])
    points = rng.normal(size=(6, 3))

    def scores(x):
        return critic(x.astype(np.float32)).numpy()[:, 0].astype(np.float64)

    norms = _finite_difference_gradient_norms(scores, points)
    expected = np.mean((norms - 1.0) ** 2)
    penalty = losses.gradient_penalty(critic, points.astype(np.float32),
                                      points.astype(np.float32), seed=0)
    assert float(penalty) == pytest.approx(expected, rel=1e-2, abs=1e-5)


def test_gradient_penalty_interpolates_with_uniform_weights():
    """For f(x) = |x|^2 / 2 the gradient at u * r (fake = 0) has norm u * |r|; with |r| = 2,
    E(2u - 1)^2 = 1/3 for u ~ U(0, 1), while a standard normal u (a bug copied in several
    tutorials) would give E(2u - 1)^2 = 5."""
    real = np.zeros((20_000, 2), np.float32)
    real[:, 0] = 2.0

    def critic(x):
        return 0.5 * keras.ops.sum(keras.ops.square(x), axis=1, keepdims=True)

    penalty = float(losses.gradient_penalty(critic, real, np.zeros_like(real), seed=3))
    assert penalty == pytest.approx(1 / 3, abs=0.02)


def test_clip_weights_bounds_every_variable():
    variables = [tf.Variable(rng.normal(0, 1, (4, 3)).astype(np.float32)),
                 tf.Variable(np.float32([-0.5, 0.001, 0.5]))]
    before = [v.numpy().copy() for v in variables]
    gans.clip_weights(variables, 0.01)
    for variable, original in zip(variables, before, strict=True):
        np.testing.assert_allclose(variable.numpy(), np.clip(original, -0.01, 0.01))


@pytest.mark.parametrize("conditional, conditioning",
                         [(False, "concat"), (True, "concat"), (True, "projection")])
def test_builders_shapes(conditional, conditioning):
    num_classes = 10 if conditional else None
    z = np.zeros((3, 5), np.float32)
    labels = np.array([0, 4, 9], np.int32)
    for generator, discriminator in [
        (mlp.build_mlp_generator(5, num_classes=num_classes, hidden_units=(8,)),
         mlp.build_mlp_discriminator(784, num_classes=num_classes, hidden_units=(8,),
                                      conditioning=conditioning)),
        (conv.build_conv_generator(5, filters=(4, 2), num_classes=num_classes),
         conv.build_conv_discriminator(filters=(2, 4), num_classes=num_classes,
                                       conditioning=conditioning)),
    ]:
        images = generator([z, labels] if conditional else z)
        assert images.shape[0] == 3 and int(np.prod(images.shape[1:])) == 784
        assert np.abs(np.asarray(images)).max() <= 1.0  # tanh
        logits = discriminator([images, ops.convert_to_tensor(labels)] if conditional else images)
        assert logits.shape == (3, 1)


def test_a_conditional_discriminator_reads_the_label():
    keras.utils.set_random_seed(2)
    discriminator = conv.build_conv_discriminator(filters=(2, 4), num_classes=10)
    images = rng.random((2, 28, 28, 1)).astype(np.float32)
    first = discriminator([images, np.array([0, 0], np.int32)]).numpy()
    second = discriminator([images, np.array([3, 7], np.int32)]).numpy()
    assert not np.allclose(first, second)


def test_projection_discriminator_adds_the_label_embedding_times_the_features():
    keras.utils.set_random_seed(3)
    discriminator = mlp.build_mlp_discriminator(6, hidden_units=(4,), num_classes=3,
                                                 conditioning="projection")
    x = rng.standard_normal((5, 6)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1], np.int32)
    for layer in ("discriminator_out", "discriminator_label_embedding"):  # away from zero
        weights = discriminator.get_layer(layer).get_weights()
        discriminator.get_layer(layer).set_weights([w + rng.standard_normal(w.shape)
                                                    for w in weights])
    hidden_w, hidden_b = discriminator.get_layer("discriminator_1").get_weights()
    out_w, out_b = discriminator.get_layer("discriminator_out").get_weights()
    (embedding,) = discriminator.get_layer("discriminator_label_embedding").get_weights()
    pre = x @ hidden_w + hidden_b
    features = np.where(pre > 0, pre, 0.2 * pre)  # LeakyReLU(0.2)
    expected = features @ out_w + out_b + np.sum(embedding[labels] * features, axis=1,
                                                 keepdims=True)
    np.testing.assert_allclose(discriminator([x, labels]).numpy(), expected, rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="conditioning"):
        mlp.build_mlp_discriminator(6, num_classes=3, conditioning="auxiliary")


def _small_model(model_class, critic_steps, **options):
    keras.utils.set_random_seed(0)
    model = model_class(mlp.build_mlp_generator(2, 1, hidden_units=(16,), output_activation=None),
                        mlp.build_mlp_discriminator(1, hidden_units=(16,)), latent_dim=2,
                        critic_steps=critic_steps, data_range=None, **options)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), steps_per_execution=1)
    return model


@pytest.mark.parametrize("model_class", [gans.GAN, gans.WGAN, gans.WGANGP])
def test_critic_step_schedule_and_reported_losses(model_class):
    model = _small_model(model_class, critic_steps=3)
    batch = rng.normal(size=(8, 1)).astype(np.float32)
    history = model.fit(batch, batch_size=8, epochs=1, verbose=0).history
    assert int(model.d_optimizer.iterations) == 3 and int(model.optimizer.iterations) == 1
    assert set(history) == set(model.loss_names)
    if model_class is gans.WGAN:  # clipped after each critic step
        assert max(np.abs(v.numpy()).max() for v in model.discriminator.trainable_variables) \
            <= 0.01 + 1e-7


def test_probabilities_and_scores_are_reported_as_such():
    gan, wgan = _small_model(gans.GAN, 1), _small_model(gans.WGAN, 1, clip_value=None)
    scores = np.array([[-2.0], [4.0]], np.float32)
    assert float(gan.mean_score(scores)) == pytest.approx(
        np.mean(1 / (1 + np.exp(-scores))), rel=1e-5)
    assert float(wgan.mean_score(scores)) == pytest.approx(1.0)


def test_a_gan_learns_a_shifted_gaussian():
    """On 1-D data N(3, 0.5) the generator's samples move from near 0 to near 3."""
    model = _small_model(gans.GAN, critic_steps=1)
    real = rng.normal(3.0, 0.5, (4096, 1)).astype(np.float32)
    training.train(model, data.make_dataset(real, batch_size=128), epochs=25)
    samples = model.sample(2000, seed=1)
    assert abs(samples.mean() - 3.0) < 0.4 and 0.2 < samples.std() < 1.0


def test_sample_maps_the_data_range_and_checks_labels():
    keras.utils.set_random_seed(0)
    conditional = gans.GAN(mlp.build_mlp_generator(4, num_classes=10, hidden_units=(8,)),
                           mlp.build_mlp_discriminator(num_classes=10, hidden_units=(8,)),
                           latent_dim=4, num_classes=10)
    images = conditional.sample(5, labels=np.arange(5))
    assert images.shape == (5, 784) and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, conditional.sample(5, labels=np.arange(5)))
    with pytest.raises(ValueError, match="conditional"):
        conditional.sample(5)
    with pytest.raises(ValueError, match="labels"):
        conditional.split_batch(np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError, match="generator_loss"):
        gans.GAN(conditional.generator, conditional.discriminator, latent_dim=4,
                 generator_loss="hinge")


def test_generator_average_is_an_exponential_moving_average(tmp_path):
    model = _small_model(gans.GAN, 1, generator_average=0.9)
    generator_weights = [model.generator.get_weights()]
    averages = [model.average_generator.get_weights()]
    batch = np.ones((8, 1), np.float32)
    for _ in range(2):
        model.train_on_batch(batch)
        generator_weights.append(model.generator.get_weights())
        averages.append(model.average_generator.get_weights())
    for start, after in zip(generator_weights[0], averages[0], strict=True):
        np.testing.assert_array_equal(start, after)  # the average starts as a copy
    for step in (1, 2):
        for previous, current, average in zip(averages[step - 1], generator_weights[step],
                                              averages[step], strict=True):
            np.testing.assert_allclose(average, 0.9 * previous + 0.1 * current, rtol=1e-5,
                                       atol=1e-7)
    z = np.zeros((1, 2), np.float32)
    np.testing.assert_allclose(model.generate_from(z, averaged=False),
                               model.generator.predict(z, verbose=0), rtol=1e-6)
    assert not np.allclose(model.generate_from(z), model.generate_from(z, averaged=False))
    np.testing.assert_allclose(model.generate_from(z),
                               model.average_generator.predict(z, verbose=0), rtol=1e-6)
    model.save_weights(tmp_path / "gan.weights.h5")
    reloaded = _small_model(gans.GAN, 1, generator_average=0.9)
    reloaded.build_optimizers()  # the file holds the trained optimizers' state too
    reloaded.load_weights(tmp_path / "gan.weights.h5")
    for saved, loaded in zip(averages[-1], reloaded.average_generator.get_weights(),
                             strict=True):
        np.testing.assert_array_equal(saved, loaded)
    with pytest.raises(ValueError, match="generator_average"):
        _small_model(gans.GAN, 1, generator_average=1.0)


def test_gaussian_ring_and_mode_coverage():
    centres = data.ring_centres(8, radius=2.0)
    assert np.allclose(np.linalg.norm(centres, axis=1), 2.0) and np.allclose(centres[0], [2, 0])
    points, modes = data.gaussian_ring(4000, std=0.02, seed=1)
    assert points.shape == (4000, 2) and set(np.unique(modes)) == set(range(8))
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=0.05)
    full = metrics.mode_coverage(points, centres, std=0.02)
    assert full["modes_covered"] == 8 and full["high_quality_fraction"] > 0.98
    collapsed = metrics.mode_coverage(points[modes < 3], centres, std=0.02)
    assert collapsed["modes_covered"] == 3
    far = metrics.mode_coverage(points * 0.5, centres, std=0.02)  # all between the modes
    assert far["modes_covered"] == 0 and far["high_quality_fraction"] == 0.0


def test_build_gan_compiles_each_model_with_its_papers_schedule():
    for name, kind, model_class, steps in [("gan", "conv", gans.GAN, 1),
                                           ("wgan", "conv", gans.WGAN, 5),
                                           ("wgan_gp", "mlp", gans.WGANGP, 5)]:
        model = gans.build_gan(name, kind, latent_dim=8, num_classes=10, learning_rate=1e-3,
                               generator_learning_rate=1e-3)
        assert type(model) is model_class and model.critic_steps == steps
        assert float(model.d_optimizer.learning_rate) == pytest.approx(1e-3)
        assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
        assert model.sample(2, labels=[3, 4]).shape[0] == 2
    assert isinstance(gans.build_gan("wgan").d_optimizer, keras.optimizers.RMSprop)
    with pytest.raises(ValueError, match="kind"):
        gans.build_gan("gan", "transformer")


def test_the_generator_can_take_its_own_learning_rate():
    model = gans.build_gan("gan", "mlp", latent_dim=4, generator_learning_rate=1e-3)
    assert float(model.d_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_the_dcgan_discriminator_is_batch_normalized_and_no_gradient_penalty_critic():
    dcgan = gans.build_gan("gan", "conv", latent_dim=4)
    assert float(dcgan.optimizer.learning_rate) == pytest.approx(1e-3)  # InfoGAN's steps
    assert float(dcgan.d_optimizer.learning_rate) == pytest.approx(2e-4)
    layers = {layer.name: layer for layer in dcgan.discriminator.layers}
    assert layers["discriminator_shared"].units == 512
    assert {"discriminator_bn_2", "discriminator_bn_shared"} <= set(layers)
    with pytest.raises(ValueError, match="batch-normalized"):
        gans.build_gan("wgan_gp", "conv")


def test_tabular_generator_has_a_softmax_head_per_category():
    generator = table.build_tabular_generator(4, [3, 2], 2, hidden_units=(8,))
    rows = np.asarray(generator(rng.normal(size=(6, 4)).astype(np.float32)))
    assert rows.shape == (6, 3 + 2 + 2)
    np.testing.assert_allclose(rows[:, :3].sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(rows[:, 3:5].sum(axis=1), 1, rtol=1e-5)
    assert (rows[:, :5] > 0).all() and (rows[:, 5:] < 0).any()  # the last two are linear
    with pytest.raises(ValueError, match="at least 2 categories"):
        table.build_tabular_generator(4, [3, 1], 2)


def test_assemble_gan_pairs_given_networks():
    generator = table.build_tabular_generator(4, [2], 1, hidden_units=(8,))
    critic = mlp.build_mlp_discriminator(3, hidden_units=(8,))
    model = gans.assemble_gan("wgan_gp", generator, critic, latent_dim=4, data_range=None,
                              critic_steps=2)
    assert isinstance(model, gans.WGANGP) and model.critic_steps == 2
    assert model.sample(5).shape == (5, 3)
    with pytest.raises(ValueError, match="model must be one of"):
        gans.assemble_gan("vae", generator, critic, latent_dim=4)


def test_score_gap_is_the_difference_of_mean_critic_scores():
    model = gans.build_gan("wgan_gp", "points", latent_dim=2)
    real, fake = rng.normal(size=(30, 2)), rng.normal(2, 1, size=(20, 2))
    scores = [np.asarray(model.discriminator(x.astype(np.float32))).mean() for x in (real, fake)]
    assert model.score_gap(real, fake, batch_size=7) == pytest.approx(scores[0] - scores[1],
                                                                      rel=1e-5)
    conditional = gans.build_gan("gan", "mlp", latent_dim=2, num_classes=10,
                                 conditioning="projection")
    images, labels = rng.random((4, 784)), np.array([1, 2, 3, 4])
    expected = np.asarray(conditional.discriminator([images.astype(np.float32), labels]))
    assert conditional.score_gap(images, images[::-1], labels) == pytest.approx(
        expected.mean() - np.asarray(conditional.discriminator(
            [images[::-1].astype(np.float32), labels])).mean(), rel=1e-5, abs=1e-6)


def test_point_gan_samples_raw_points():
    model = gans.build_gan("gan", "points", latent_dim=3)
    assert model.data_range is None
    points = model.sample(5, seed=1)
    assert points.shape == (5, 2) and np.abs(points).max() > 0  # unbounded, not mapped to [0, 1]
    np.testing.assert_array_equal(points, model.sample(5, seed=1))


def test_ring_recipe_trains_caches_and_measures(isolated_cache):
    from course_utils import recipes

    ring = recipes.RingGANRecipe(num_points=512, epochs=2)
    run = recipes.load(ring)
    assert list(run.snapshots()) == [0, 1, 2] and run.snapshots()[2].shape == (1000, 2)
    assert not np.allclose(run.snapshots()[0], run.snapshots()[2])
    assert set(run.metrics) == {"modes_covered", "high_quality_fraction", "counts"}
    assert run.model.train_function is None  # compiled functions dropped after training
    again = recipes.load(ring)
    assert again.from_cache and again.metrics == run.metrics
    np.testing.assert_array_equal(again.snapshots()[2], run.snapshots()[2])
    assert recipes.sample_labels(5, 3).tolist() == [0, 1, 2, 0, 1]
    assert recipes.sample_labels(5, None) is None


@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"), reason="needs COURSE_DATA_DIR")
def test_downstream_classifiers_train_on_generated_or_real_digits(isolated_cache):
    from course_utils import recipes

    cgan = recipes.GANRecipe(num_classes=10, train_limit=256, num_samples=100)
    runs = {}
    for source, gan in [("generated", cgan), ("real", None)]:
        recipe = recipes.DownstreamClassifierRecipe(gan=gan, num_images=1000)
        runs[source] = recipes.load(recipe)
        assert set(runs[source].metrics) == {"test_accuracy", "class_accuracy"}
        assert len(runs[source].metrics["class_accuracy"]) == 10
        again = recipes.load(recipe)
        assert again.from_cache and again.metrics == runs[source].metrics
    assert runs["real"].metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert runs["generated"].metrics["test_accuracy"] < runs["real"].metrics["test_accuracy"]
    with pytest.raises(ValueError, match="conditional GAN"):
        recipes.DownstreamClassifierRecipe(gan=recipes.GANRecipe())
