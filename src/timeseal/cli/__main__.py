from timeseal.cli.main import main

main()
