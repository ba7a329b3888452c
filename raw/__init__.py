"""The embedded sample: installed as the package data `builder.sample`, found through importlib.resources,
so `build-instructions build` with no arguments works from any folder of any install."""
