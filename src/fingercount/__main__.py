from fingercount.cli import run

if __name__ == "__main__":  # a spawned child (monitoring's judge, INT8 quantization) imports this again
    run()
