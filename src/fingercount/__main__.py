from fingercount.cli import main

if __name__ == "__main__":  # a spawned child (monitoring's judge, INT8 quantization) imports this again
    main()
