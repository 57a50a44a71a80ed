from nhiaudit.cli import main

main()
