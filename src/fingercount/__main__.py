from fingercount.cli import main

main()
