# Staging: names of what already exists in the staging account. The pipeline passes image_tag
# and launcher_zip on the command line.
environment                 = "staging"
vpc_name                    = "housing-staging"
private_subnet_name_pattern = "housing-staging-private-*"
table_names                 = ["Persons", "TenureInformation", "Assets"]
search_domain_name          = "housing-search-staging"
task_cpu                    = 1024
task_memory                 = 2048

# A nightly verify keeps staging's drift visible without rewriting its indexes.
schedules = {
  "verify-persons" = { schedule_expression = "cron(0 2 * * ? *)", table = "Persons", index = "persons", mode = "verify" }
}
