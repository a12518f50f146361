import gc

from neuronest.app import create_app

app = create_app()
# What the server process holds from here on (modules, the schema, the routes) lives as long as
# the process: out of the cyclic collector's way, its full collections no longer walk it all.
gc.freeze()
