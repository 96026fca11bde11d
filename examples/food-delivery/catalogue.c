/* catalogue.c: the products an order can name. */
#include <stddef.h>

#include "food.h"

static const food_product products[] = {
    {1, "Crispy Chicken Sandwich", 1099},
    {2, "Margherita Pizza", 1450},
    {3, "Pad Thai", 1275},
    {4, "Veggie Burrito", 950},
    {5, "Caesar Salad", 875},
    {6, "Ramen Bowl", 1325},
};

const food_product *food_product_lookup(int id)
{
    for (size_t i = 0; i < sizeof(products) / sizeof(products[0]); i++)
        if (products[i].id == id) return &products[i];
    return NULL;
}
