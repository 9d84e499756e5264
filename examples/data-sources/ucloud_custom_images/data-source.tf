# Every available web build in cn-sh2, newest first.
data "ucloud_custom_images" "web" {
  region     = "cn-sh2"
  name_regex = "^web-build-"
}

output "web_image_ids" {
  value = data.ucloud_custom_images.web.ids
}

output "web_images_by_name" {
  value = { for image in data.ucloud_custom_images.web.images : image.name => image.id }
}
