"""The tabular encoding, the measures of a synthetic table, and the penguin GAN recipe."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course_utils import data, tabular


def small_table(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["a", "b", "c"], rows)
    return pd.DataFrame({
        "kind": kind,
        "flag": rng.choice(["no", "yes"], rows),
        "size": np.round(rng.normal(10, 2, rows) + (kind == "c") * 5, 1),
        "count": rng.integers(0, 100, rows).astype(float),
    })


def fit(frame):
    return tabular.TableEncoder.fit(frame, categorical=["kind", "flag"],
                                    continuous=["size", "count"])


def test_encode_then_decode_gives_the_table_back():
    frame = small_table()
    encoder = fit(frame)
    encoded = encoder.encode(frame)
    assert encoded.shape == (60, 3 + 2 + 2) == (60, encoder.width)
    assert encoder.category_sizes == [3, 2] and encoder.continuous_dim == 2
    assert encoder.encoded_names[:3] == ["kind=a", "kind=b", "kind=c"]
    np.testing.assert_array_equal(encoded[:, :5].sum(axis=1), 2.0)  # one 1 per block
    np.testing.assert_allclose(encoded[:, 5:].mean(axis=0), 0, atol=1e-6)  # standardized
    np.testing.assert_allclose(encoded[:, 5:].std(axis=0), 1, atol=1e-5)
    decoded = encoder.decode(encoded)
    assert list(decoded.columns) == encoder.columns
    assert (decoded[["kind", "flag"]].to_numpy() == frame[["kind", "flag"]].to_numpy()).all()
    np.testing.assert_allclose(decoded["size"], frame["size"])
    assert decoded["count"].dtype == np.int64  # recorded without decimals
    np.testing.assert_array_equal(decoded["count"], frame["count"])


def test_decode_turns_each_softmax_head_into_its_most_probable_category():
    encoder = fit(small_table())
    soft = np.array([[0.2, 0.5, 0.3, 0.9, 0.1, 0.0, 0.0],
                     [0.6, 0.3, 0.1, 0.4, 0.6, 1.0, -1.0]])
    decoded = encoder.decode(soft)
    assert decoded["kind"].tolist() == ["b", "a"] and decoded["flag"].tolist() == ["no", "yes"]
    size = encoder.continuous["size"]
    assert decoded["size"][1] == pytest.approx(round(size.mean + size.std, 1))
    assert encoder.category_confidence(soft) == pytest.approx({"kind": 0.55, "flag": 0.75})
    with pytest.raises(ValueError, match="width 7"):
        encoder.decode(soft[:, :6])


def test_encoder_rejects_missing_values_and_unseen_categories():
    frame = small_table()
    encoder = fit(frame)
    with pytest.raises(ValueError, match="missing values"):
        encoder.encode(frame.assign(size=np.where(np.arange(60) == 3, np.nan, frame["size"])))
    with pytest.raises(ValueError, match="has not seen"):
        encoder.encode(frame.assign(kind="z"))
    with pytest.raises(ValueError, match="no column"):
        encoder.encode(frame.drop(columns="flag"))
    with pytest.raises(ValueError, match="constant"):
        tabular.TableEncoder.fit(frame.assign(count=1.0), categorical=["kind"],
                                 continuous=["count"])


def test_split_rows_is_a_seeded_partition():
    frame = small_table()
    train, held_out = tabular.split_rows(frame, held_out_fraction=1 / 3, seed=1)
    assert (len(train), len(held_out)) == (40, 20)
    both = pd.concat([train, held_out]).sort_values(["size", "count"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, frame.sort_values(["size", "count"])
                                  .reset_index(drop=True))
    again, _ = tabular.split_rows(frame, held_out_fraction=1 / 3, seed=1)
    pd.testing.assert_frame_equal(train, again)


def test_total_variation_and_ks_against_direct_computations():
    a, b = ["x"] * 6 + ["y"] * 4, ["x"] * 2 + ["y"] * 6 + ["z"] * 2
    # |0.6 - 0.2| + |0.4 - 0.6| + |0 - 0.2| = 0.8, halved
    assert tabular.total_variation(a, b) == pytest.approx(0.4)
    assert tabular.total_variation(a, a) == 0.0
    rng = np.random.default_rng(0)
    u, v = rng.normal(0, 1, 200), rng.normal(0.5, 1, 150)
    assert tabular.ks_distance(u, v) == pytest.approx(stats.ks_2samp(u, v).statistic)


def test_marginal_distances_and_correlation_gap():
    frame = small_table(200)
    encoder = fit(frame)
    distances = tabular.marginal_distances(frame, frame, encoder)
    assert set(distances) == {"kind", "flag", "size", "count"}
    assert max(distances.values()) == 0.0
    shifted = frame.assign(size=frame["size"] + 100)
    assert tabular.marginal_distances(shifted, frame, encoder)["size"] == 1.0
    gap, first, second = tabular.correlation_gap(frame, frame, encoder)
    np.testing.assert_array_equal(first, second)
    assert gap == 0.0
    expected = np.corrcoef(encoder.encode(frame), rowvar=False)
    np.testing.assert_allclose(first, expected, atol=1e-5)
    shuffled = frame.assign(size=np.random.default_rng(1).permutation(frame["size"]))
    assert tabular.correlation_gap(shuffled, frame, encoder)[0] > 0.01  # kind-size link lost


def test_two_sample_test_tells_different_tables_apart_only():
    same_a, same_b = small_table(150, seed=1), small_table(150, seed=2)
    encoder = fit(same_a)
    assert abs(tabular.classifier_two_sample_auc(same_a, same_b, encoder) - 0.5) < 0.12
    different = same_b.assign(size=same_b["size"] + 10)
    assert tabular.classifier_two_sample_auc(different, same_a, encoder) > 0.9


def test_distance_to_closest_record_against_brute_force():
    records, queries = small_table(50, seed=1), small_table(20, seed=2)
    encoder = fit(records)
    encoded_records, encoded_queries = encoder.encode(records), encoder.encode(queries)
    brute = np.sqrt(((encoded_queries[:, None, :] - encoded_records[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(
        tabular.distance_to_closest_record(queries, records, encoder), brute, rtol=1e-5)
    copies = records.iloc[:10]
    assert tabular.closest_record_ratio(copies, queries, records, encoder) == 0.0


def test_penguins_are_cleaned_as_the_chapter_says():
    raw = data.load_penguins(clean=False)
    frame = data.load_penguins()
    assert len(raw) == 344 and raw.isna().any(axis=None)
    assert len(frame) == 342 and not frame.isna().any(axis=None)
    assert (frame["sex"] == "unknown").sum() == 9
    assert sorted(frame["year"].unique()) == ["2007", "2008", "2009"]
    encoder = tabular.TableEncoder.fit(frame, categorical=data.PENGUIN_CATEGORICAL,
                                       continuous=data.PENGUIN_CONTINUOUS)
    assert encoder.category_sizes == [3, 3, 3, 3] and encoder.width == 16


def test_penguin_gan_recipe_trains_caches_and_measures(isolated_cache):
    from course_utils import recipes

    recipe = recipes.TabularGANRecipe(epochs=1, passes_per_epoch=3, measure_every=4)
    run = recipes.load(recipe)
    assert set(run.metrics) == {"marginal", "max_marginal_distance", "correlation_gap",
                                "c2st_auc", "closest_record_ratio"}
    assert 0 < run.metrics["max_marginal_distance"] <= 1
    steps = run.arrays["measured_step"]
    assert steps[0] == 0 and len(steps) == len(run.arrays["measured_max_marginal_distance"]) > 1
    again = recipes.load(recipe)
    assert again.from_cache and again.metrics == run.metrics
    train, held_out, encoder = recipes.penguin_tables()
    assert (len(train), len(held_out)) == (228, 114)
    assert run.model.generator.output.shape[-1] == encoder.width
