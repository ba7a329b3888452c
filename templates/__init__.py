"""The shipped template catalogue: installed as the package data `builder.templates`, found through
importlib.resources, so a wheel install has it as well as a checkout."""
