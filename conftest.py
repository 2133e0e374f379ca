pytest_plugins = ["guild_testing.fixtures"]
