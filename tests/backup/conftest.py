from tests.federation.conftest import fed_node  # noqa: F401  (the live nodes fixture)
