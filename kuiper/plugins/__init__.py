"""Native plugins: naming, loading, function adapters, packaging, install/remove, eKuiper SDK compat.

Entry points: `manager.PluginManager` (the service layer), `loader.PluginLoader` (factories
for the runtime), `functions.install_resolver` (SQL functions), `build.build_plugin`.
"""
