from memtool.cli.main import run

run()
