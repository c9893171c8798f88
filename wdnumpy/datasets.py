"""Data sets: the Adult census data, a synthetic app store like the paper's, and any CSV.

Every loader returns raw columns (a dict ``name → (N,) array``, as
:class:`~wdnumpy.features.FeatureSpec` consumes them) and labels (N,) in {0, 1}.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .csvfiles import binary_labels, iter_csv, load_csv, read_csv  # noqa: F401 (re-exported: any CSV)
from .features import Bucketized, Categorical, Crossed, FeatureSpec, Multivalent, Numeric

DATA_DIR = Path(os.environ.get("WDNUMPY_DATA", Path(__file__).resolve().parent.parent / "data"))


# ---------------------------------------------------------------------------
# Adult census income (UCI), the original split
# ---------------------------------------------------------------------------

ADULT_CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race",
                     "gender", "native_country"]
ADULT_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
AGE_BOUNDARIES = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65]


def load_adult(split: str = "train", data_dir=None):
    """The Adult census income data, original split: 32,561 train / 16,281 test rows.

    Label 1 means income > 50K (about 24% of rows). See ``data/README.md`` for the
    source and license (CC BY 4.0).

    Returns
    -------
    columns : dict name → (N,) str array
    labels : (N,) float64
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(data_dir or DATA_DIR) / f"adult.{split}.csv.gz"
    return load_csv(path, "income_bracket", positive=[">50K", ">50K."])


CAPITAL_GAIN_BOUNDARIES = [1, 3000, 5000, 7000, 10000, 15000]
CAPITAL_LOSS_BOUNDARIES = [1, 1500, 1800, 2000, 2500]


def adult_spec(embedding_dim: int = 8, cross_buckets: int = 1000, n_quantiles: int = 100) -> FeatureSpec:
    """The Wide & Deep spec of TensorFlow's census example, with two changes for the capital columns.

    wide: the base categorical columns, age buckets, and the crosses
    education × occupation, age_buckets × education × occupation and
    native_country × occupation; deep: an 8-dim embedding of each categorical column
    and the five continuous columns.

    Age, education_num and hours_per_week are normalised by their empirical CDF
    (paper §4.1). capital_gain and capital_loss are 92% and 95% zeros, so their CDF
    squeezes every non-zero value into [0.92, 1]; they are instead ``log1p``-ed and
    standardised for the deep part, and bucketized for the wide part. (Measured on a
    validation split of the training data: test AUC 0.893 with the CDF for all five.)
    """
    columns = [Categorical(c) for c in ADULT_CATEGORICAL]
    columns += [Numeric(c, n_quantiles=n_quantiles) for c in ("age", "education_num", "hours_per_week")]
    columns += [Numeric(c, normalization="standard", log1p=True) for c in ("capital_gain", "capital_loss")]
    columns += [
        Bucketized("age_buckets", source="age", boundaries=AGE_BOUNDARIES),
        Bucketized("capital_gain_buckets", source="capital_gain", boundaries=CAPITAL_GAIN_BOUNDARIES),
        Bucketized("capital_loss_buckets", source="capital_loss", boundaries=CAPITAL_LOSS_BOUNDARIES),
        Crossed("education_x_occupation", ["education", "occupation"], buckets=cross_buckets),
        Crossed("age_x_education_x_occupation", ["age_buckets", "education", "occupation"], buckets=cross_buckets),
        Crossed("native_country_x_occupation", ["native_country", "occupation"], buckets=cross_buckets),
    ]
    wide = ADULT_CATEGORICAL + ["age_buckets", "capital_gain_buckets", "capital_loss_buckets",
                                "education_x_occupation", "age_x_education_x_occupation",
                                "native_country_x_occupation"]
    return FeatureSpec(columns, wide=wide, embeddings={c: embedding_dim for c in ADULT_CATEGORICAL},
                       continuous=ADULT_NUMERIC)


# ---------------------------------------------------------------------------
# A synthetic app store in the paper's setting
# ---------------------------------------------------------------------------

@dataclass
class AppStore:
    """Impressions of apps to users, with the true install probability of each row.

    train, test : raw columns (``user_country``, ``user_age``, ``installed`` as
        "app3|app17", ``installed_categories`` as "category1|category1",
        ``impression``, ``impression_category``)
    train_labels, test_labels : (N,) installs in {0, 1}
    train_prob, test_prob : (N,) the true P(install) the labels were drawn from
    test_slice : (N_test,) str, "seen" if all the row's niche (installed,
        impression) pairs also occurred in training rows, "unseen" if one of them
        never occurred in training, "none" if the row has no niche pair
    niche_pairs : (P, 2) app ids (installed app, impression app); niche_effects (P,)
    train_user, test_user : (N,) the user (0..n_users−1) of each row
    test_new_user : (N_test,) bool, True where the row's user has no training row
    """

    train: dict
    train_labels: np.ndarray
    train_prob: np.ndarray
    test: dict
    test_labels: np.ndarray
    test_prob: np.ndarray
    test_slice: np.ndarray
    niche_pairs: np.ndarray
    niche_effects: np.ndarray
    train_user: np.ndarray | None = None
    test_user: np.ndarray | None = None
    test_new_user: np.ndarray | None = None


@dataclass
class AppWorld:
    """The app store's hidden truth: apps, users and niche pairs (what :func:`make_app_store` samples rows from).

    category, popularity : (A,) each app's category and popularity (its logit term)
    installed : (U, A) 1.0 where user u has installed app a (every bag holds at least one app)
    country, age : (U,) the users' country id (0..4) and age; country_effect (5,)
    niche : (A, A) the niche effect of (installed app, impression app), mostly 0;
        pairs (P, 2), effects (P,) and held_out (P,) bool list its non-zero entries

    :meth:`prob` is the true install probability of any (user, app), :meth:`columns`
    the raw columns a :func:`app_store_spec` reads; :meth:`drift` makes the next day's
    world (:mod:`wdnumpy.simulate`).
    """

    category: np.ndarray
    popularity: np.ndarray
    installed: np.ndarray
    country: np.ndarray
    country_effect: np.ndarray
    age: np.ndarray
    niche: np.ndarray
    pairs: np.ndarray
    effects: np.ndarray
    held_out: np.ndarray
    n_categories: int

    @property
    def n_users(self) -> int:
        return self.installed.shape[0]

    @property
    def n_apps(self) -> int:
        return self.installed.shape[1]

    @cached_property
    def share(self) -> np.ndarray:
        """(U, C) the fraction of each user's installed apps in each category."""
        return self.installed @ np.eye(self.n_categories)[self.category] / self.installed.sum(axis=1)[:, None]

    @cached_property
    def user_niche(self) -> np.ndarray:
        """(U, A) Σ_i installed(u, i) · niche(i, a)."""
        return self.installed @ self.niche

    def logit(self, user, app) -> np.ndarray:
        """The true logit z of user[n] seeing app[n] (see :func:`make_app_store`); (N,) for (N,) ids."""
        return (-3.0 + self.popularity[app] + 6.0 * self.share[user, self.category[app]]
                + self.country_effect[self.country[user]] + 0.03 * (40 - self.age[user]) + self.user_niche[user, app])

    def prob(self, user, app) -> np.ndarray:
        """The true install probability σ(z), (N,)."""
        return 1 / (1 + np.exp(-self.logit(user, app)))

    @cached_property
    def _bags(self) -> tuple:
        apps = np.array([f"app{i}" for i in range(self.n_apps)])
        categories = np.array([f"category{c}" for c in range(self.n_categories)])
        rows = [np.flatnonzero(row) for row in self.installed]
        return (apps, categories[self.category], np.array(["|".join(apps[r]) for r in rows]),
                np.array(["|".join(categories[self.category[r]]) for r in rows]))

    def columns(self, user, app) -> dict:
        """Raw columns (name → (N,) array) of the rows (user[n], app[n]), as :class:`AppStore` holds them."""
        apps, app_category, bag_text, bag_categories = self._bags
        return {"user_country": np.array([f"country{c}" for c in range(5)])[self.country[user]],
                "user_age": self.age[user].astype(np.float64),
                "installed": bag_text[user],
                "installed_categories": bag_categories[user],
                "impression": apps[app],
                "impression_category": app_category[app]}

    def drift(self, seed, new_apps: int = 0, shifted_users: float = 0.0) -> "AppWorld":
        """The world a day later: ``new_apps`` apps launched, ``shifted_users`` of the users' tastes changed.

        New apps get a category and a popularity drawn as the first apps' were and no
        niche pair; a shifted user's bag of installed apps is drawn afresh, from a new
        category preference, among all apps (new ones included), which changes the
        ``share`` term of the logit and the ``installed`` column the models read.
        Everything else is kept; ``self`` is not changed.
        """
        if new_apps < 0 or not 0 <= shifted_users <= 1:
            raise ValueError(f"new_apps must be >= 0 and shifted_users lie in [0, 1], got {new_apps} and "
                             f"{shifted_users}")
        rng = np.random.default_rng(seed)
        category = np.concatenate([self.category, rng.integers(0, self.n_categories, new_apps)])
        popularity = np.concatenate([self.popularity, rng.normal(0, 0.7, new_apps)])
        installed = np.pad(self.installed, ((0, 0), (0, new_apps)))
        shifted = np.flatnonzero(rng.random(self.n_users) < shifted_users)
        installed[shifted] = _draw_bags(rng, shifted.size, category, popularity, self.n_categories)
        niche = np.pad(self.niche, ((0, new_apps), (0, new_apps)))
        return AppWorld(category, popularity, installed, self.country, self.country_effect, self.age, niche,
                        self.pairs, self.effects, self.held_out, self.n_categories)


def _draw_bags(rng, n_users: int, category: np.ndarray, popularity: np.ndarray, n_categories: int) -> np.ndarray:
    """(n_users, A) installed bags: 1 + Poisson(4) apps each, without replacement, drawn with weights
    exp(2 · log(π_u[category] + 0.001) + popularity), π_u a user's Dirichlet(0.5) category preference
    (the Gumbel top-k trick: the bag is the apps of largest score + Gumbel noise)."""
    n_apps = category.size
    preference = np.log(rng.dirichlet(np.full(n_categories, 0.5), n_users) + 1e-3)
    bag_size = np.minimum(1 + rng.poisson(4, n_users), n_apps)
    scores = 2 * preference[:, category] + popularity + rng.gumbel(size=(n_users, n_apps))
    ranked = np.argsort(-scores, axis=1)
    in_bag = np.arange(n_apps)[None, :] < bag_size[:, None]
    installed = np.zeros((n_users, n_apps))
    np.put_along_axis(installed, ranked, in_bag.astype(float), axis=1)
    return installed


def make_app_world(n_users: int = 50_000, n_apps: int = 100, n_categories: int = 8, n_niche: int = 100,
                   held_out_fraction: float = 0.1, seed=0) -> AppWorld:
    """The apps, users and niche pairs of :func:`make_app_store` (the same for the same arguments).

    ``seed`` is a seed or a ``np.random.Generator`` (which is advanced).
    """
    rng = np.random.default_rng(seed)
    category = rng.integers(0, n_categories, n_apps)
    popularity = rng.normal(0, 0.7, n_apps)
    installed = _draw_bags(rng, n_users, category, popularity, n_categories)
    country = rng.integers(0, 5, n_users)
    country_effect = rng.normal(0, 0.3, 5)
    age = rng.integers(18, 70, n_users)

    # niche pairs: (installed app, impression app) with a strong effect of either sign
    flat = rng.choice(n_apps * n_apps, size=min(n_niche, n_apps * n_apps), replace=False)
    pairs = np.stack([flat // n_apps, flat % n_apps], axis=1)
    effects = rng.choice([-1.0, 1.0], pairs.shape[0]) * rng.uniform(2, 4, pairs.shape[0])
    held_out = rng.random(pairs.shape[0]) < held_out_fraction
    niche = np.zeros((n_apps, n_apps))
    niche[pairs[:, 0], pairs[:, 1]] = effects
    return AppWorld(category, popularity, installed, country, country_effect, age, niche, pairs, effects,
                    held_out, n_categories)


def make_app_store(n_train: int = 400_000, n_test: int = 20_000, n_users: int = 50_000, n_apps: int = 100,
                   n_categories: int = 8, n_niche: int = 100, held_out_fraction: float = 0.1,
                   seed: int = 0, held_out_users: float = 0.0, user_effect: float = 0.0) -> AppStore:
    """Generate the synthetic app store (seeded; sizes configurable).

    True logit of user u seeing impression app j, of category c_j:

        z = −3 + pop_j + 6 · share_u[c_j] + country_u + 0.03 · (40 − age_u) + Σ_{i ∈ installed_u} niche(i, j)

    - users install apps mostly from the categories they like, and ``share_u[c]``
      is the fraction of u's installed apps in category c: how much the user
      likes the impression's kind of app. This smooth part is what the deep part
      learns from embeddings of the installed bag and of the impression, and it
      carries over to every (installed, impression) combination (generalization);
    - ``niche(i, j)`` is a strong effect (±2 to ±4) on ``n_niche`` specific
      (installed app, impression app) pairs, which embeddings shared by all pairs
      cannot express but the wide part's installed × impression cross memorizes.

    A fraction ``held_out_fraction`` of the niche pairs never occurs in training
    (rows with them are kept out of the training set), so the test set has rows
    whose niche pair was seen in training and rows whose pair never was.

    Cold start: a fraction ``held_out_users`` of the users never appears in
    training rows (test rows come from all users, so about that share of them
    are new users), and ``user_effect`` > 0 adds a per-user term u_u ~ N(0,
    user_effect²) to the logit, which only a model that knows the user can learn.
    Both are drawn from their own generator, so at 0 (the defaults) every output is
    what it was without them. :func:`make_cold_start_store` uses them.

    Why 400,000 training rows by default (200,000 before). The lesson needs W&D
    to come close to the Bayes-optimal AUC both on rows with a niche pair seen in
    training (memorization: the wide part) and on the rest (generalization: the
    deep part). The optimizer fixed the first (see
    :func:`wdnumpy.optim.make_optimizer`); on the rows without a niche pair the
    deep part needed more rows, not more epochs or users. Measured with the
    ``paper`` settings (lr 0.5) on a 20% validation split of the training rows:
    W&D's AUC below Bayes-optimal on all / seen / no-pair rows was 0.011 / 0.019 /
    0.010 with 200,000 rows, 0.010 / 0.013 / 0.009 with 300,000 and 0.006 / 0.009 /
    0.005 with 400,000. More epochs did not help (the deep part alone, 10,000 users,
    200,000 rows: 0.868, 0.867 and 0.867 on no-pair rows after 10, 20 and 30
    epochs), nor did more rows per user: at 200,000 rows the no-pair rows stayed
    0.011 to 0.013 below Bayes-optimal with 50,000, 10,000 or 3,000 users, and at
    400,000 rows 10,000 users gave 0.006 / 0.011 / 0.006. A training epoch takes
    twice as long as with 200,000 rows. The other sizes are those the notebooks
    rely on.
    """
    if min(n_train, n_test, n_users, n_apps, n_categories) < 1:
        raise ValueError("all sizes must be >= 1")
    if not 0 <= held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must lie in [0, 1), got {held_out_fraction}")
    if not 0 <= held_out_users < 1 or not user_effect >= 0:
        raise ValueError(f"held_out_users must lie in [0, 1) and user_effect be >= 0, got {held_out_users} "
                         f"and {user_effect}")
    user_rng = np.random.default_rng((seed, 1))  # cold start: leaves the main stream as it was
    new_user = user_rng.random(n_users) < held_out_users
    user_bias = user_rng.normal(0, user_effect, n_users) if user_effect else None
    rng = np.random.default_rng(seed)
    world = make_app_world(n_users, n_apps, n_categories, n_niche, held_out_fraction, rng)
    popularity, niche, pairs, effects = world.popularity, world.niche, world.pairs, world.effects
    held = np.zeros((n_apps, n_apps))
    held[pairs[world.held_out, 0], pairs[world.held_out, 1]] = 1
    installed = world.installed
    user_held = installed @ held         # > 0 where a held-out pair is active
    user_any = installed @ (niche != 0)  # number of active niche pairs

    def draw(n):
        user = rng.integers(0, n_users, n)
        impression = rng.choice(n_apps, n, p=np.exp(popularity) / np.exp(popularity).sum())
        z = world.logit(user, impression)
        if user_bias is not None:
            z = z + user_bias[user]
        prob = 1 / (1 + np.exp(-z))
        labels = (rng.random(n) < prob).astype(np.float64)
        return user, impression, prob, labels

    # training rows never contain a held-out pair or user; draw extra and keep the first n_train allowed rows
    if not ((user_held == 0) & ~new_user[:, None]).any():
        raise ValueError("no training row is possible: every user is held out (held_out_users) or has a held-out "
                         "niche pair with every app (held_out_fraction); use more users or hold out fewer")
    user, impression, prob, labels = draw(int(n_train * 1.2) + 100)
    allowed = np.flatnonzero((user_held[user, impression] == 0) & ~new_user[user])
    while allowed.size < n_train:  # rare without held-out users: draw more
        more = draw(n_train)
        user, impression, prob, labels = (np.concatenate([a, b]) for a, b in
                                          zip((user, impression, prob, labels), more))
        allowed = np.flatnonzero((user_held[user, impression] == 0) & ~new_user[user])
    keep = allowed[:n_train]
    train_user, train_imp, train_prob, train_labels = user[keep], impression[keep], prob[keep], labels[keep]
    test_user, test_imp, test_prob, test_labels = draw(n_test)

    # which niche pairs occurred in some training row: Σ over rows of installed(user) ⊗ impression
    user_impressions = np.zeros((n_users, n_apps))
    np.add.at(user_impressions, (train_user, train_imp), 1.0)
    never_trained = (niche != 0) & (installed.T @ user_impressions == 0)
    user_unseen = installed @ never_trained
    test_slice = np.full(n_test, "none", dtype=object)
    test_slice[user_any[test_user, test_imp] > 0] = "seen"
    test_slice[user_unseen[test_user, test_imp] > 0] = "unseen"

    return AppStore(world.columns(train_user, train_imp), train_labels, train_prob,
                    world.columns(test_user, test_imp), test_labels, test_prob, test_slice.astype(str),
                    pairs, effects, train_user, test_user, ~np.isin(test_user, train_user))


def app_store_spec(embedding_dim: int = 8, cross_buckets: int = 2 ** 17) -> FeatureSpec:
    """Wide: installed × impression cross (the paper's example) and the impression app;
    deep: embeddings of the installed bag (mean-pooled), the impression, its category and
    the user's country, plus the user's age."""
    columns = [
        Multivalent("installed", pooling="mean"),
        Categorical("impression"),
        Categorical("impression_category"),
        Categorical("user_country"),
        Numeric("user_age"),
        Crossed("installed_x_impression", ["installed", "impression"], buckets=cross_buckets),
    ]
    return FeatureSpec(columns, wide=["installed_x_impression", "impression"],
                       embeddings={"installed": embedding_dim, "impression": embedding_dim,
                                   "impression_category": max(2, embedding_dim // 2),
                                   "user_country": max(2, embedding_dim // 2)},
                       continuous=["user_age"])


def make_cold_start_store(held_out_users: float = 0.6, user_effect: float = 1.0, n_train: int = 100_000,
                          n_test: int = 20_000, n_users: int = 20_000, seed: int = 0, **options) -> AppStore:
    """An app store whose test set is mostly users never seen in training, with a ``user_id`` column.

    :func:`make_app_store` with ``held_out_users`` of the users kept out of training
    and a per-user logit term of standard deviation ``user_effect`` (what a user-id
    embedding can learn for users seen in training). ``store.test_new_user`` marks the
    test rows of unseen users: the rows cold-start handling is for. ``options`` go to
    :func:`make_app_store`.
    """
    store = make_app_store(n_train, n_test, n_users, seed=seed, held_out_users=held_out_users,
                           user_effect=user_effect, **options)
    for columns, users in ((store.train, store.train_user), (store.test, store.test_user)):
        columns["user_id"] = np.char.add("user", users.astype(str))
    return store


def cold_start_spec(embedding_dim: int = 8, oov_bucket: bool = True, cross_buckets: int = 2 ** 17,
                    user_buckets: int = 2 ** 16) -> FeatureSpec:
    """:func:`app_store_spec` plus the user: a ``user_id`` embedding for the deep part and
    a user_id × impression_category cross for the wide part (a user's liking for a kind
    of app, memorized), whose combinations with an unseen user go to its OOV bucket
    when ``oov_bucket``."""
    base = app_store_spec(embedding_dim, cross_buckets)
    columns = list(base.columns.values()) + [
        Categorical("user_id"),
        Crossed("user_x_category", ["user_id", "impression_category"], buckets=user_buckets,
                oov_bucket=oov_bucket)]
    return FeatureSpec(columns, wide=base.wide + ["user_x_category"],
                       embeddings={**base.embeddings, "user_id": embedding_dim}, continuous=base.continuous)


def niche_pair_report(model, spec: FeatureSpec, store: AppStore, cross: str = "installed_x_impression") -> dict:
    """What the wide part memorized of each niche pair: true effect, learned cross weight, training count.

    The weight of pair (i, j) is the wide weight of the ``cross`` feature that
    is active when app i is installed and app j is the impression, found the way
    the spec finds it for any row (:meth:`FeatureSpec.tokens` of a one-app bag and
    one impression, plus the column's offset in :meth:`FeatureSpec.wide_offsets`).
    Plotted against the count, it is the memorization curve: a pair needs some
    training rows before its weight approaches its effect, and a pair never seen
    in training keeps the weight it started with (0, unless its hash bucket is
    shared with a pair that was seen).

    Parameters
    ----------
    model : a trained model with a wide part (``params["wide.w"]``, length D)
    spec : the fitted spec the model was trained with; ``cross`` is one of its
        wide columns, a cross of a bag of installed apps and an impression column
    store : the AppStore whose training rows the model was trained on

    Returns
    -------
    dict of (P,) arrays, one entry per niche pair (in the order of ``store.niche_pairs``):
        installed, impression : the pair's app names
        effect : the true niche effect on the logit
        weight : the learned wide weight of the pair's cross
        train_count : the number of training rows in which the pair was active
    """
    if "wide.w" not in getattr(model, "params", {}):
        raise ValueError("the model has no wide part (no 'wide.w' parameter) to read cross weights from")
    if cross not in spec.wide:
        raise ValueError(f"{cross!r} is not a wide column of the spec; its wide columns are {spec.wide}")
    parents = spec.columns[cross].parents
    if len(parents) != 2:
        raise ValueError(f"{cross!r} must cross two columns (installed apps, impression), got {list(parents)}")
    installed = np.array([f"app{i}" for i in store.niche_pairs[:, 0]])
    impression = np.array([f"app{j}" for j in store.niche_pairs[:, 1]])
    pairs = {spec.columns[parents[0]].source: installed, spec.columns[parents[1]].source: impression}
    tokens = spec.tokens(cross, pairs)
    if not np.all(np.diff(tokens.indptr) == 1):  # one installed app × one impression: one cross each
        raise ValueError(f"{cross!r} does not give exactly one cross for an (installed, impression) pair")
    weight = model.params["wide.w"][spec.wide_offsets()[cross] + tokens.ids]
    # count by the crosses' 64-bit keys, not their bucket ids, so that pairs sharing a bucket count apart
    # (every training row has at least one cross: bags hold at least one app)
    train_keys, counts = np.unique(spec.tokens(cross, store.train).keys, return_counts=True)
    where = np.minimum(np.searchsorted(train_keys, tokens.keys), train_keys.size - 1)
    train_count = np.where(train_keys[where] == tokens.keys, counts[where], 0)
    return {"installed": installed, "impression": impression, "effect": store.niche_effects.copy(),
            "weight": weight.copy(), "train_count": train_count.astype(np.int64)}
