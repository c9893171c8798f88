"""explain: the wide terms come largest magnitude first, and all terms add up to the model's logit."""
import numpy as np
import pytest

from wdnumpy.ensemble import COMBINE
from wdnumpy.explain import explain
from wdnumpy.features import Categorical, Crossed, FeatureSpec, Multivalent, Numeric
from wdnumpy.train import make_model

ROWS = {"city": np.array(["oslo", "lima", "oslo", "rome"]), "apps": np.array(["A|B", "B", "", "A|C"]),
        "age": np.array([30.0, 41.0, 52.0, 63.0])}


def fitted_spec():
    return FeatureSpec([Categorical("city"), Multivalent("apps"),
                        Crossed("city_x_apps", ["city", "apps"], buckets=1000), Numeric("age", n_quantiles=3)],
                       wide=["city", "apps", "city_x_apps"], embeddings={"city": 2, "apps": 2}, continuous=["age"]
                       ).fit(ROWS)


def with_weights(model, seed):
    """Non-zero weights everywhere (wide weights start at 0), and a bias."""
    rng = np.random.default_rng(seed)
    for value in model.params.values():
        value[...] = rng.standard_normal(value.shape)
    return model


def test_wide_terms_come_largest_magnitude_first():
    spec = fitted_spec()
    model = with_weights(make_model("wide_deep", spec, hidden=(3,), seed=0), 1)
    row0 = spec.transform({k: v[:1] for k, v in ROWS.items()}).wide
    active = row0.indices  # city=oslo, apps A and B, and the two crosses
    assert active.size == 5
    # in index order: neither sorted by magnitude nor by signed value, with a large negative term
    model.params["wide.w"][active] = [0.5, -3.0, 0.25, 2.0, -1.0]
    terms = explain(model, spec, ROWS, row=0).wide
    assert [c for _, c in terms] == [-3.0, 2.0, -1.0, 0.5, 0.25]
    assert len({name for name, _ in terms}) == 5 and any(" × " in name for name, _ in terms)


@pytest.mark.parametrize("kind", ["wide", "deep", "wide_deep"])
def test_terms_add_up_to_the_logit_of_each_model_kind(kind):
    spec = fitted_spec()
    model = with_weights(make_model(kind, spec, hidden=(3,), seed=0), 2)
    for row in range(len(ROWS["city"])):
        e = explain(model, spec, ROWS, row)
        one = spec.transform({k: v[row:row + 1] for k, v in ROWS.items()})
        assert e.logit == pytest.approx(float(model.forward(one)[0]), abs=1e-12)
        assert e.total == pytest.approx(e.logit, abs=1e-12)
        assert e.bias == model.params["bias"][0]
        magnitudes = [abs(c) for _, c in e.wide]
        assert magnitudes == sorted(magnitudes, reverse=True)
        if kind == "wide":
            assert e.deep == 0.0
        if kind == "deep":
            assert e.wide == []


@pytest.mark.parametrize("combine", sorted(set(COMBINE) - {"stacked"} | {"logit"}))
def test_an_ensemble_is_explained_when_its_rule_adds_logits(combine):
    spec = fitted_spec()
    ensemble = make_model("ensemble", spec, hidden=(3,), seed=0, combine=combine)
    for member in ensemble.members.values():
        with_weights(member, 3)
    if combine == "proba":  # an average of probabilities has no additive terms
        with pytest.raises(ValueError):
            explain(ensemble, spec, ROWS, 0)
        return
    deep_terms = []
    for row in range(len(ROWS["city"])):
        e = explain(ensemble, spec, ROWS, row)
        one = spec.transform({k: v[row:row + 1] for k, v in ROWS.items()})
        assert e.logit == pytest.approx(float(ensemble.forward(one)[0]), abs=1e-12)
        assert e.total == pytest.approx(e.logit, abs=1e-12)
        magnitudes = [abs(c) for _, c in e.wide]
        assert magnitudes == sorted(magnitudes, reverse=True) and e.wide
        deep_terms.append(e.deep)
    assert any(deep_terms)  # both members take part (a row whose ReLUs are all off has a deep term of 0)


def test_a_row_is_explained_from_that_row_alone():
    """explain(..., row) explains "the prediction for row ``row``": the other rows are not featurized, so a missing
    value elsewhere (here the next row's age, which Numeric without fill refuses) does not stop it, and each row's
    terms are those of the row given alone."""
    spec = fitted_spec()
    model = with_weights(make_model("wide_deep", spec, hidden=(3,), seed=0), 4)
    gappy = {k: v.copy() for k, v in ROWS.items()}
    gappy["age"][[1, 3]] = np.nan
    for row in (0, 2):
        alone = {k: v[row:row + 1] for k, v in ROWS.items()}
        assert explain(model, spec, gappy, row) == explain(model, spec, alone, 0)


def test_a_row_past_the_end_is_refused():
    spec = fitted_spec()
    model = make_model("wide", spec, hidden=(3,), seed=0)
    with pytest.raises(ValueError, match=r"row must lie in \[0, 4\), got 4"):
        explain(model, spec, ROWS, row=4)


def test_the_printed_explanation_names_each_term_and_aligns_the_numbers():
    from wdnumpy.explain import Explanation
    long_name = "native_country=United-States × occupation=Exec-managerial"
    e = Explanation(bias=-1.0, wide=[(long_name, 0.5), ("city=oslo", -0.25)], deep=0.125, logit=-0.625)
    lines = str(e).splitlines()
    assert [line.split("  ")[0].rstrip() for line in lines] == [
        "bias", "wide: " + long_name, "wide: city=oslo", "deep part logit", "= logit"]
    starts = {line.index(sign) for line, sign in zip(lines, "-+-+-")}
    assert starts == {len("wide: " + long_name) + 2}  # one column of numbers, after the longest name
    assert lines[-1].endswith("P(Y=1) = 0.3486")


def test_the_printed_explanation_of_short_names_keeps_a_24_character_name_column():
    """Names shorter than the column still get 24 characters and two spaces; each number has its sign and four
    decimals, and the last line adds P(Y=1); a model without wide terms prints none."""
    from wdnumpy.explain import Explanation
    e = Explanation(bias=0.5, wide=[("a=1", 0.25), ("b=2", -1.5)], deep=-0.125, logit=-0.875)
    assert str(e).split("\n") == [
        "bias                      +0.5000",
        "wide: a=1                 +0.2500",
        "wide: b=2                 -1.5000",
        "deep part logit           -0.1250",
        "= logit                   -0.8750   P(Y=1) = 0.2942"]
    assert str(Explanation(bias=-2.0, wide=[], deep=0.0, logit=-2.0)).split("\n") == [
        "bias                      -2.0000",
        "deep part logit           +0.0000",
        "= logit                   -2.0000   P(Y=1) = 0.1192"]


def test_wide_features_sharing_a_hash_bucket_are_one_term_naming_each_joined_by_a_bar():
    """explain gives one term per wide weight: crosses hashed into the same bucket share a weight, so they are
    one term whose name lists each of them, joined by " | " (the module docstring: an unseen cross shows
    "whatever shares its hash bucket")."""
    rows = {"city": np.array(["oslo", "lima"]), "apps": np.array(["A|B", "B"])}
    spec = FeatureSpec([Categorical("city"), Multivalent("apps"), Crossed("city_x_apps", ["city", "apps"], buckets=1)],
                       wide=["city", "apps", "city_x_apps"]).fit(rows)
    model = make_model("wide", spec, seed=0)
    model.params["wide.w"][:] = np.arange(1.0, model.params["wide.w"].size + 1)
    e = explain(model, spec, rows, row=0)
    assert e.wide == [("city=oslo × apps=A | city=oslo × apps=B", 7.0), ("apps=B", 6.0), ("apps=A", 5.0),
                      ("city=oslo", 3.0)]
    assert e.total == e.logit == 21.0
