from neuronest.cli import main

main()
