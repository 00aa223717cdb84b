from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "northstar.directory"
    label = "directory"
    verbose_name = "Directory"
