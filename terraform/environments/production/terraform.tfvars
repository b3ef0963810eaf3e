# Production: names of what already exists in the production account. The pipeline passes
# image_tag and launcher_zip on the command line.
environment                 = "production"
vpc_name                    = "housing-production"
private_subnet_name_pattern = "housing-production-private-*"
table_names                 = ["Persons", "TenureInformation", "Assets"]
search_domain_name          = "housing-search-production"
task_cpu                    = 2048
task_memory                 = 4096

# Nightly rebuilds, an hour apart, outside office hours (UTC).
schedules = {
  "rebuild-persons" = { schedule_expression = "cron(0 1 * * ? *)", table = "Persons", index = "persons" }
  "rebuild-tenures" = { schedule_expression = "cron(0 2 * * ? *)", table = "TenureInformation", index = "tenures" }
  "rebuild-assets"  = { schedule_expression = "cron(0 3 * * ? *)", table = "Assets", index = "assets" }
}
