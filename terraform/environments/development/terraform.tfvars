# Development: names of what already exists in the development account. The pipeline passes
# image_tag and launcher_zip on the command line.
environment                 = "development"
vpc_name                    = "housing-development"
private_subnet_name_pattern = "housing-development-private-*"
table_names                 = ["Persons", "TenureInformation", "Assets"]
search_domain_name          = "housing-search-development"
task_cpu                    = 512
task_memory                 = 1024

# No scheduled runs in development: rebuilds are started by hand from the console.
schedules = {}
