from neuronest.cli import main

# Guarded: worker processes (spawned) import this module again and must not start a server.
if __name__ == "__main__":
    main()
