# The newest image of the web build in the provider's region and project.
data "ucloud_custom_image" "web" {
  name_regex  = "^web-build-[0-9]+$"
  most_recent = true
}

# One of UCloud's platform images, by its exact name.
data "ucloud_custom_image" "ubuntu" {
  image_type = "Base"
  name       = "Ubuntu 22.04 64位"
}

output "web_image_id" {
  value = data.ucloud_custom_image.web.id
}

output "web_image_os_family" {
  value = data.ucloud_custom_image.web.os_family # "Linux" or "Windows"
}
