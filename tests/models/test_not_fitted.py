"""Every use of a model before fit raises NotFittedError naming the class and what to do."""

import pytest

import mixpref as mp
from mixpref.errors import DataError, NotFittedError


@pytest.fixture(scope="module")
def pop():
    return mp.synthetic.population(n_types=1, n_annotators=6, comparisons_per_annotator=10, dim=3, random_state=0)


CALLS = {
    "rewards": lambda m, p: m.rewards(p.features),
    "sample_rewards": lambda m, p: m.sample_rewards(2, p.features),
    "log_likelihood": lambda m, p: m.log_likelihood(p.data, p.features),
    "score": lambda m, p: m.score(p.data, p.features),
    "predict_proba": lambda m, p: m.predict_proba(p.data, p.features),
    "predict_tie_proba": lambda m, p: m.predict_tie_proba(p.data, p.features),
    "type_posterior": lambda m, p: m.type_posterior(p.data, p.features),
    "profile": lambda m, p: m.profile(p.data, p.features),
    "assign": lambda m, p: m.assign(),
    "save": lambda m, p: m.save("never-written"),
    "coef_": lambda m, p: m.coef_,
    "weights_": lambda m, p: m.weights_,
    "responsibilities_": lambda m, p: m.responsibilities_,
    "n_types_": lambda m, p: m.n_types_,
    "annotators_": lambda m, p: m.annotators_,
}


@pytest.mark.parametrize("make", [mp.BradleyTerry, mp.PolicyLikelihood, lambda: mp.MixtureBT(n_types=2)])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_not_fitted(pop, make, call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = make()
    with pytest.raises(NotFittedError, match=rf"^{type(model).__name__} is not fitted yet; call fit\(data, features\) first$"):
        CALLS[call](model, pop)
    assert not (tmp_path / "never-written").exists()


def test_policy_methods_not_fitted(pop):
    for model in (mp.PolicyLikelihood(), mp.MixturePL(n_types=2)):
        for method in (model.log_normalizer, model.policy):
            with pytest.raises(NotFittedError, match=type(model).__name__):
                method(pop.data, pop.features)


def test_not_fitted_is_a_data_error_and_an_attribute_error(pop):
    assert issubclass(NotFittedError, DataError) and issubclass(NotFittedError, AttributeError)
    model = mp.BradleyTerry()
    assert not hasattr(model, "weights_")
    model.fit(pop.data, pop.features)
    assert hasattr(model, "weights_")
    # after fit, an attribute that does not exist is a plain AttributeError, not "not fitted"
    with pytest.raises(AttributeError) as err:
        getattr(model, "svi_losses_")  # noqa: B009
    assert not isinstance(err.value, NotFittedError)
    with pytest.raises(AttributeError) as err:
        getattr(mp.BradleyTerry(), "no_such_thing")  # noqa: B009
    assert not isinstance(err.value, NotFittedError)


def test_a_fitted_property_keeps_its_own_message(pop):
    model = mp.BradleyTerry(reward="mlp", hidden=4, max_steps=5).fit(pop.data, pop.features)
    with pytest.raises(AttributeError, match="coef_ exists only for reward='linear'"):
        getattr(model, "coef_")  # noqa: B009
